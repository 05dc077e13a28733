"""The organisation-wide alternative: ``sentinel init revocation-scp`` prints one service
control policy denying every revoked session whose credentials may still be valid, within the
5,120-character SCP limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from subprocess import CompletedProcess

import pytest
from sessionhelpers import record, seed

from sentinelgw.errors import HardRevocationError
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revocation.deny_document import compact, user_pattern
from sentinelgw.sessions.scp import SCP_QUOTA_CHARS, scp_document
from sentinelgw.sessions.store import SessionStore

Run = Callable[..., CompletedProcess[str]]


def revoked(
    n: int, user: str = "alice", *, minutes_ago: int = 5, live: bool = True
) -> SessionRecord:
    now = datetime.now(UTC)
    started = now - timedelta(minutes=minutes_ago)
    return record(
        n,
        user=user,
        id=f"{n:016x}",
        source_identity=f"sentinel.{user}.{n:016x}",
        started_at=started,
        expires_at=now + timedelta(hours=1) if live else now - timedelta(hours=1),
        status="revoked",
        revoked_at=now - timedelta(minutes=1),
        revoked_by="arn:aws:iam::123456789012:user/secops",
        revoked_reason="x",
    )


def test_the_revocation_scp_names_every_revoked_session_with_live_credentials(
    run_sentinel: Run, store: SessionStore
) -> None:
    live, lapsed = revoked(1), revoked(2, live=False)
    active = record(3, started_at=datetime.now(UTC))
    seed(store.client, store.table, [live, lapsed, active])
    proc = run_sentinel(["init", "revocation-scp", "--table", store.table])
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelRevokedSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceIdentity": [live.source_identity]}},
            }
        ],
    }
    assert "1 SourceIdentities named" in proc.stderr and "organizations" in proc.stderr


def test_an_scp_past_5120_characters_uses_user_wildcards_like_the_inline_quota() -> None:
    many = [revoked(n) for n in range(200)]  # about 6,600 characters named one by one
    bob = revoked(500, user="bob")
    scp = scp_document([*many, bob])
    assert scp.chars == len(compact(scp.document)) <= SCP_QUOTA_CHARS
    assert scp.named == (bob.source_identity,)
    ((pattern, bound),) = scp.wildcards
    assert pattern == user_pattern("alice")
    latest = max(r.revoked_at for r in many if r.revoked_at)
    assert latest < bound <= latest + timedelta(seconds=1)
    wildcard = scp.document["Statement"][1]["Condition"]
    assert wildcard["StringLike"] == {"aws:SourceIdentity": pattern}


def test_an_scp_that_cannot_fit_even_with_wildcards_is_an_error() -> None:
    # One entry for each of 200 users: a wildcard would not be shorter than the entry.
    with pytest.raises(HardRevocationError, match="do not fit one service control policy"):
        scp_document([revoked(n, user=f"user{n}") for n in range(200)])
