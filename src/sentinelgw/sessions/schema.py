"""The session table's schema, and creating it idempotently (``sentinel init sessions``).

Why this shape:

- hash key ``id`` only: every hot-path call (create, touch, the revocation poll) addresses one
  session by id;
- a GSI per question the security team asks (by user, by status, by profile, by server
  instance), each sorted by ``started_at`` (epoch Number) so ``--since`` is a key condition
  and exports never scan;
- ``source-identity-index`` is hash-only: a SourceIdentity names exactly one session, and the
  audit looks sessions up by it;
- every GSI projects ALL so a query returns whole records without a second GetItem;
- PAY_PER_REQUEST: session traffic is bursty (CI, people) and nobody should size it;
- TTL on ``ttl`` (epoch seconds) keeps records for the retention period, then lets DynamoDB
  delete them for free.

An existing table that differs is reported, never modified: changing a key schema means
recreating the table, which would destroy the audit trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.awsclients import error_code
from sentinelgw.errors import SessionStoreError
from sentinelgw.sessions.listing import on_table

TTL_ATTRIBUTE = "ttl"
BILLING_MODE = "PAY_PER_REQUEST"


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index: hash key and optional ``started_at`` sort key."""

    name: str
    hash_key: str
    sort_key: str | None = "started_at"

    def key_schema(self) -> list[dict[str, str]]:
        keys = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.sort_key:
            keys.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        return keys


@dataclass(frozen=True)
class TableSpec:
    """What the session table must look like."""

    hash_key: str = "id"
    indexes: tuple[IndexSpec, ...] = (
        IndexSpec("user-index", "user"),
        IndexSpec("status-index", "status"),
        IndexSpec("profile-index", "profile"),
        IndexSpec("server-instance-index", "server_instance_id"),
        IndexSpec("source-identity-index", "source_identity", None),
    )
    ttl_attribute: str = TTL_ATTRIBUTE
    billing_mode: str = BILLING_MODE

    def attribute_types(self) -> dict[str, str]:
        types = {self.hash_key: "S"}
        for ix in self.indexes:
            types[ix.hash_key] = "S"
            if ix.sort_key:
                types[ix.sort_key] = "N"
        return types

    def create_request(self, table: str) -> dict[str, Any]:
        return {
            "TableName": table,
            "KeySchema": [{"AttributeName": self.hash_key, "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": t} for n, t in self.attribute_types().items()
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": ix.name,
                    "KeySchema": ix.key_schema(),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for ix in self.indexes
            ],
            "BillingMode": self.billing_mode,
        }

    def describe(self) -> list[str]:
        """Human lines describing the spec, for ``--plan``."""
        lines = [
            f"hash key {self.hash_key} (S)",
            f"billing {self.billing_mode}",
            f"TTL attribute {self.ttl_attribute}",
        ]
        for ix in self.indexes:
            keys = ix.hash_key + (f" + {ix.sort_key} (N)" if ix.sort_key else "")
            lines.append(f"index {ix.name}: {keys}, projection ALL")
        return lines


SPEC = TableSpec()


@dataclass
class TableReport:
    """What :func:`ensure_table` found and did (or, with ``plan``, would do)."""

    table: str
    exists: bool
    created: bool
    actions: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.exists and not self.actions and not self.differences


def ensure_table(
    client: Any,
    table: str,
    *,
    plan: bool = False,
    wait: bool = True,
    spec: TableSpec = SPEC,
    wait_seconds: float = 300.0,
) -> TableReport:
    """Create the session table if missing; report how an existing one differs.

    Idempotent: on a matching table it does nothing (``report.up_to_date``). With ``plan``
    nothing is changed and ``actions`` says what would be done. Differences are returned, not
    fixed; the caller decides how to fail.
    """
    desc = _describe(client, table)
    if desc is None:
        report = TableReport(table, exists=False, created=False)
        report.actions.append(
            f"create table {table} ({spec.billing_mode}) with "
            f"{len(spec.indexes)} global secondary indexes"
        )
        report.actions.append(f"enable TTL on attribute {spec.ttl_attribute!r}")
        if plan:
            return report
        request = spec.create_request(table)
        with on_table(client, table, "CreateTable"):
            client.create_table(**request)
        report.created = True
        if wait:
            _wait_active(client, table, wait_seconds)
        _enable_ttl(client, table, spec)
        return report

    report = TableReport(table, exists=True, created=False)
    report.differences = table_differences(desc, spec)
    if report.differences:
        return report
    if desc.get("TableStatus") not in (None, "ACTIVE") and wait and not plan:
        _wait_active(client, table, wait_seconds)
    with on_table(client, table, "DescribeTimeToLive"):
        ttl = client.describe_time_to_live(TableName=table)
    ttl_desc = ttl.get("TimeToLiveDescription", {})
    ttl_status = ttl_desc.get("TimeToLiveStatus", "DISABLED")
    ttl_attr = ttl_desc.get("AttributeName")
    if ttl_status in ("ENABLED", "ENABLING"):
        if ttl_attr != spec.ttl_attribute:
            report.differences.append(
                f"TTL attribute is {ttl_attr!r}, expected {spec.ttl_attribute!r}"
            )
        return report
    # A table created by an earlier run whose TTL step failed: finishing it is safe.
    report.actions.append(f"enable TTL on attribute {spec.ttl_attribute!r}")
    if not plan:
        _enable_ttl(client, table, spec)
    return report


def table_differences(desc: dict[str, Any], spec: TableSpec = SPEC) -> list[str]:
    """Every way a DescribeTable ``Table`` differs from the spec, one line each."""
    diffs: list[str] = []
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    want_key = [{"AttributeName": spec.hash_key, "KeyType": "HASH"}]
    if _keys(desc.get("KeySchema", [])) != _keys(want_key):
        diffs.append(
            f"key schema is {_show_keys(desc.get('KeySchema', []))}, "
            f"expected {_show_keys(want_key)}"
        )
    elif types.get(spec.hash_key) != "S":
        diffs.append(f"hash key {spec.hash_key} has type {types.get(spec.hash_key)}, expected S")
    have = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", []) or []}
    for ix in spec.indexes:
        g = have.get(ix.name)
        if g is None:
            diffs.append(f"missing index {ix.name} ({_show_keys(ix.key_schema())})")
            continue
        if _keys(g.get("KeySchema", [])) != _keys(ix.key_schema()):
            diffs.append(
                f"index {ix.name} has keys {_show_keys(g.get('KeySchema', []))}, "
                f"expected {_show_keys(ix.key_schema())}"
            )
        else:
            for attr in (ix.hash_key, ix.sort_key):
                want = spec.attribute_types().get(attr or "")
                if attr and types.get(attr) != want:
                    diffs.append(
                        f"index {ix.name} key {attr} has type {types.get(attr)}, expected {want}"
                    )
        projection = g.get("Projection", {}).get("ProjectionType")
        if projection != "ALL":
            diffs.append(f"index {ix.name} projects {projection}, expected ALL")
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    if billing != spec.billing_mode:
        diffs.append(f"billing mode is {billing}, expected {spec.billing_mode}")
    return diffs


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


def _show_keys(schema: list[dict[str, str]]) -> str:
    order = {"HASH": 0, "RANGE": 1}
    parts = sorted(schema, key=lambda k: order.get(k["KeyType"], 2))
    return ", ".join(f"{k['AttributeName']} {k['KeyType']}" for k in parts) or "empty"


def _describe(client: Any, table: str) -> dict[str, Any] | None:
    try:
        with on_table(client, table, "DescribeTable"):
            resp = client.describe_table(TableName=table)
    except SessionStoreError as exc:
        if exc.__cause__ is not None and error_code(exc.__cause__) == "ResourceNotFoundException":
            return None
        raise
    result: dict[str, Any] = resp["Table"]
    return result


def _wait_active(client: Any, table: str, wait_seconds: float) -> None:
    # A bounded poll rather than the boto3 waiter: it honours our own deadline and the same
    # error translation as every other call.
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        desc = _describe(client, table)
        if desc is not None and desc.get("TableStatus") == "ACTIVE":
            return
        if time.monotonic() >= deadline:
            raise SessionStoreError(
                f"session table {table!r} did not become ACTIVE within {int(wait_seconds)}s",
                hint="Check it in the DynamoDB console and re-run 'sentinel init sessions'",
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _enable_ttl(client: Any, table: str, spec: TableSpec) -> None:
    with on_table(client, table, "UpdateTimeToLive"):
        client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
