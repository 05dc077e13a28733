"""Builders for CloudTrail AssumeRole records, log files in the delivery layout, and sessions."""

from __future__ import annotations

import gzip
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.sessions.model import SessionRecord
from sentinelgw.timeutil import iso

ACCOUNT = "123456789012"
REGION = "us-east-1"
# A fixed window well away from "now", so events other tests record never fall into it.
T0 = datetime(2025, 11, 3, 12, 0, 0, tzinfo=UTC)
PROD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-prod"
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-dev"


def new_id() -> str:
    return secrets.token_hex(8)


def assume_role(
    *,
    at: datetime = T0,
    role_arn: str = PROD_ROLE,
    source_identity: str | None = None,
    chained: str | None = None,
    echo_only: bool = False,
    event_id: str | None = None,
    source_ip: str = "192.0.2.10",
    user_agent: str = "aws-cli/2.15.0",
    principal_id: str = "AIDAEXAMPLEALICE",
) -> dict[str, Any]:
    """A CloudTrail AssumeRole record in the documented shape.

    ``source_identity`` goes in requestParameters (or only in responseElements with
    ``echo_only``); ``chained`` is the caller's session SourceIdentity.
    """
    session_name = source_identity or f"botocore-session-{int(at.timestamp())}"
    params: dict[str, Any] = {"roleArn": role_arn, "roleSessionName": session_name,
                              "durationSeconds": 3600}
    response: dict[str, Any] = {
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Nov 3, 2025 1:00:00 PM"},
        "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLE:{session_name}",
                            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/x/{session_name}"},
    }
    if source_identity and not echo_only:
        params["sourceIdentity"] = source_identity
    if source_identity or chained:
        response["sourceIdentity"] = source_identity or chained
    caller: dict[str, Any] = {"type": "IAMUser", "principalId": principal_id,
                              "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                              "accountId": ACCOUNT, "userName": "alice"}
    if chained:
        caller = {"type": "AssumedRole", "principalId": "AROAEXAMPLECALLER:s",
                  "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/hop/s", "accountId": ACCOUNT,
                  "sessionContext": {"sourceIdentity": chained,
                                     "sessionIssuer": {"type": "Role", "arn": DEV_ROLE}}}
    return {
        "eventVersion": "1.08",
        "userIdentity": caller,
        "eventTime": iso(at),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": REGION,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": params,
        "responseElements": response,
        "eventID": event_id or str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }


def other_event(at: datetime = T0) -> dict[str, Any]:
    return {"eventVersion": "1.08", "eventTime": iso(at), "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets", "eventID": str(uuid.uuid4()), "awsRegion": REGION}


def log_key(at: datetime, *, account: str = ACCOUNT, region: str = REGION,
            org: str | None = None, prefix: str = "") -> str:
    """The S3 key CloudTrail would deliver a file under."""
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    org_part = f"{org}/" if org else ""
    name = (f"{account}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_"
            f"{secrets.token_hex(8)}.json.gz")
    return (f"{head}AWSLogs/{org_part}{account}/CloudTrail/{region}/"
            f"{at:%Y/%m/%d}/{name}")


def gz_records(records: list[Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def write_log(root: Path, records: list[Any], at: datetime | None = None, **kw: Any) -> Path:
    """Write one gzip log file under ``root`` in the delivery layout; returns its path."""
    when = at or T0
    path = root / log_key(when, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gz_records(records))
    return path


def session(store: Any, *, user: str = "alice", profile: str = "prod",
            role_arn: str = PROD_ROLE, at: datetime = T0) -> str:
    """Create a server-session record; returns its SourceIdentity."""
    ident = new_id()
    sid = f"sentinel.{user}.{ident}"
    store.create(SessionRecord.new(
        id=ident, user=user, profile=profile, role_arn=role_arn, started_at=at,
        expires_at=at + timedelta(hours=1), server_instance_id="srv-test",
        source_identity=sid, host="laptop"))
    return sid
