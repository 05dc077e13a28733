"""A session that ended early is hard-revoked while a credential it issued may still be valid.

The child copies its credentials to a file and exits, so the server ends and marks the record
``expired``; whoever holds that copy (here, the test) keeps working until ``server-revoke``
denies the session's SourceIdentity in IAM.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import boto3
import pytest
from sessionhelpers import T0, record

from sentinelgw.errors import SessionNotFound
from sentinelgw.sessions.revocation.revoke import deny_in_iam
from sentinelgw.sessions.store import SessionStore

Run = Callable[..., CompletedProcess[str]]
REVOKER = "arn:aws:iam::123456789012:user/secops"
# Writes the credentials it was served to argv[1] (0600) and the session id to stdout.
COPY_CHILD = (
    "import boto3, json, os, sys\n"
    "c = boto3.Session().get_credentials().get_frozen_credentials()\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n"
    "os.write(fd, json.dumps([c.access_key, c.secret_key, c.token]).encode())\n"
    "os.close(fd)\n"
    "print(os.environ['AWS_SENTINEL_SESSION_ID'])\n"
)


def s3_answer(endpoint: str, creds: list[str]) -> str:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1],
        aws_session_token=creds[2],
    )
    try:
        s3.list_buckets()
    except Exception as exc:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))
    return "OK"


def test_a_finished_session_with_live_credentials_is_hard_revoked(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.json"
    # One minute served, but STS issues at least 15 minutes: the copy outlives the session.
    proc = run_sentinel(
        [
            "exec",
            "--server",
            "--server-duration",
            "1m",
            "--profile",
            "prod",
            "--",
            sys.executable,
            "-c",
            COPY_CHILD,
            str(copy),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    sid = proc.stdout.strip().splitlines()[-1]
    creds = json.loads(copy.read_text())
    shown = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
    assert shown["status"] == "expired"
    # The record kept STS's own expiry, 15 minutes after the start, past the served minute.
    assert shown["credentials_expire_at"] > shown["expires_at"]
    assert s3_answer(sandbox.endpoint_url, creds) == "OK"

    revoke = run_sentinel(["server-revoke", sid, "--reason", "copied credentials"])
    assert revoke.returncode == 0, revoke.stderr
    assert f"revoked session {sid}" in revoke.stdout
    assert "denied by IAM: policy SentinelRevokedSessions" in revoke.stdout
    assert s3_answer(sandbox.endpoint_url, creds) == "AccessDenied"
    after = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
    assert after["status"] == "revoked" and after["revoked_reason"] == "copied credentials"
    assert after["end_reason"] == "the command exited with status 0"
    os.unlink(copy)


def test_an_ended_session_is_revocable_until_its_last_sts_expiry(store: SessionStore) -> None:
    # expires_at passed 10 minutes ago, but STS's last credential lasts 5 more minutes.
    rec = record(
        1,
        expires_at=T0 - timedelta(minutes=10),
        credentials_expire_at=T0 + timedelta(minutes=5),
    )
    store.create(rec)
    assert store.mark_expired(rec.id, T0 - timedelta(minutes=20))
    revoked = store.revoke(rec.id, REVOKER, "copied", T0)
    assert (
        revoked.status == "revoked" and revoked.credentials_expire_at == rec.credentials_expire_at
    )
    outcome = deny_in_iam(None, revoked.with_status("revoked", role_arn="not-an-arn"), now=T0)
    assert not outcome.lapsed and outcome.iam_error is not None  # the IAM step was attempted


def test_an_ended_session_past_its_last_credential_says_when_it_expired(
    store: SessionStore,
) -> None:
    rec = record(
        2,
        expires_at=T0 - timedelta(hours=2),
        credentials_expire_at=T0 - timedelta(hours=1),
    )
    store.create(rec)
    assert store.mark_expired(rec.id, T0 - timedelta(hours=2))
    with pytest.raises(
        SessionNotFound, match="the last credential it issued expired at 2026-01-24T08:00:00Z"
    ):
        store.revoke(rec.id, REVOKER, "late", T0)
    stored = store.get(rec.id)
    assert stored is not None and stored.status == "expired" and stored.revoked_at is None


def test_the_service_records_the_sts_expiry_of_the_credentials_it_hands_out(
    sandbox: Any, store: SessionStore, tmp_path: Path
) -> None:
    from sessionhelpers import make_client
    from test_block_race import ALICE, inprocess_service

    service = inprocess_service(sandbox, store, tmp_path, make_client(sandbox.endpoint_url, "sts"))
    # A one-minute session: STS still issues 15 minutes.
    grant = service.create_session(ALICE, {"profile": "dev", "duration_seconds": 60}, {})
    stored = store.get(grant.session_id)
    assert stored is not None and stored.credentials_expire_at is not None
    expiry = grant.credentials.expiration
    assert expiry is not None
    # The table keeps milliseconds.
    assert abs(stored.credentials_expire_at - expiry) < timedelta(milliseconds=1)
    assert stored.credentials_expire_at - stored.expires_at > timedelta(minutes=13)


def test_a_remote_session_its_exec_ended_is_revocable_while_its_credentials_live(
    store: SessionStore,
) -> None:
    # A remote exec ended its session (status "ended", issue 20); the 15-minute credentials
    # STS gave it outlive that end, so a hard revoke must still reach them.
    rec = record(
        3,
        expires_at=T0 - timedelta(minutes=1),
        credentials_expire_at=T0 + timedelta(minutes=10),
    ).with_status("ended", end_reason="the command exited with status 0")
    store.create(rec)
    revoked = store.revoke(rec.id, REVOKER, "laptop lost", T0)
    assert revoked.status == "revoked" and revoked.revoked_by == REVOKER
    late = record(
        4,
        expires_at=T0 - timedelta(hours=2),
        credentials_expire_at=T0 - timedelta(hours=1),
    ).with_status("ended")
    store.create(late)
    with pytest.raises(SessionNotFound, match="the last credential it issued expired at"):
        store.revoke(late.id, REVOKER, "late", T0)
