"""Helpers shared by the session-table tests (records, bulk seeding, the installed CLI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sentinelgw.sessions.model import SessionRecord

REGION = "us-east-1"
T0 = datetime(2026, 1, 24, 9, 0, 0, tzinfo=UTC)


def make_client(endpoint_url: str, service: str = "dynamodb") -> Any:
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def record(n: int = 0, **changes: Any) -> SessionRecord:
    """A valid active record; ``n`` varies id and start time, ``changes`` override fields."""
    started = changes.pop("started_at", T0 + timedelta(seconds=n))
    base = SessionRecord.new(
        id=changes.pop("id", f"{n:016x}"),
        user=changes.pop("user", "alice"),
        profile=changes.pop("profile", "prod"),
        role_arn="arn:aws:iam::123456789012:role/prod",
        started_at=started,
        expires_at=changes.pop("expires_at", started + timedelta(hours=12)),
        server_instance_id=changes.pop("server_instance_id", "srv-0001"),
        source_identity=changes.pop("source_identity", f"sentinel.alice.{n:016x}"),
        host="laptop-1",
    )
    return base.with_status(changes.pop("status", "active"), **changes)


def seed(client: Any, table: str, records: list[SessionRecord]) -> None:
    """Write many records with BatchWriteItem (25 a call), retrying unprocessed items."""
    for start in range(0, len(records), 25):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": r.to_item()}} for r in records[start : start + 25]]
        }
        while pending:
            resp = client.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
