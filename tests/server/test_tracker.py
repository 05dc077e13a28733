"""The session tracker against the sandbox table: exact counts, expiry moved on refresh,
revocation seen by the poller, and a touch never undoing a revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sentinelgw.decisionlog import DecisionLog
from sentinelgw.server.tracker import SessionTracker
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.store import SessionStore
from sentinelgw.sourceidentity import format_source_identity, new_id


@pytest.fixture
def store(sandbox: Any) -> SessionStore:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="AKIATRACKERTESTS",
        aws_secret_access_key="tracker-not-secret",
    )
    return SessionStore(client, sandbox.table)


def record() -> SessionRecord:
    now = datetime.now(UTC).replace(microsecond=0)
    sid = new_id()
    return SessionRecord(
        id=sid,
        user="alice",
        profile="prod",
        role_arn="arn:aws:iam::123456789012:role/x",
        status="active",
        started_at=now,
        last_access_at=now,
        expires_at=now + timedelta(minutes=15),
        request_count=0,
        server_instance_id=new_id(),
        source_identity=format_source_identity("alice", sid),
        host="test",
        revoked_by=None,
        revoked_reason=None,
        revoked_at=None,
        ttl=int((now + timedelta(minutes=15, days=90)).timestamp()),
    )


def tracker(store: SessionStore, rec: SessionRecord) -> SessionTracker:
    # Long intervals: the test drives flushes and polls itself.
    return SessionTracker(store, rec, DecisionLog(), poll_interval=60, flush_interval=60)


def test_counts_are_exact_and_flushed_before_expiry(store: SessionStore) -> None:
    rec = record()
    t = tracker(store, rec)
    t.start()
    for _ in range(137):
        t.count()
    t.stop()
    stored = store.get(rec.id)
    assert stored is not None
    assert stored.request_count == 137 and stored.status == "expired"


def test_refresh_moves_expiry_and_ttl(store: SessionStore) -> None:
    rec = record()
    t = tracker(store, rec)
    t.start()
    later = rec.expires_at + timedelta(minutes=7)
    t.extend(later)
    t.extend(rec.expires_at)  # never moves backwards
    t._flush()
    stored = store.get(rec.id)
    assert stored is not None
    assert stored.expires_at == later
    assert stored.ttl == rec.ttl + 7 * 60
    assert stored.effective_status(rec.expires_at + timedelta(minutes=1)) == "active"
    t.stop()


def test_poller_sees_revocation_and_touch_cannot_undo_it(store: SessionStore) -> None:
    rec = record()
    t = tracker(store, rec)
    t.start()
    t.check_now()
    assert t.state().state == "ok"
    store.revoke(rec.id, "arn:aws:iam::123456789012:user/secops", "lost laptop", datetime.now(UTC))
    t.count()
    t._flush()  # conditional touch: a no-op on a revoked session
    t.check_now()
    state = t.state()
    assert state.state == "revoked" and "lost laptop" in state.detail
    t.stop()
    stored = store.get(rec.id)
    assert stored is not None and stored.status == "revoked"


def test_unreadable_status_becomes_unavailable(sandbox: Any) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name=sandbox.region,
        aws_access_key_id="AKIATRACKERTESTS",
        aws_secret_access_key="tracker-not-secret",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    t = SessionTracker(
        SessionStore(client, sandbox.table),
        record(),
        DecisionLog(),
        poll_interval=60,
        flush_interval=60,
        stale_after=0.0,
    )
    t.check_now()
    state = t.state()
    assert state.state == "unavailable" and "could not reach" in state.detail


def test_issued_keys_reach_the_record_and_a_failed_write_is_retried(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinelgw.errors import SessionStoreError

    rec = record()
    t = tracker(store, rec)
    t.start()
    t.add_key("ASIAFIRSTKEY000001")
    real = store.add_access_keys

    def down(*_: Any, **__: Any) -> None:
        raise SessionStoreError("the table is unreachable")

    monkeypatch.setattr(store, "add_access_keys", down)
    t.add_key("ASIASECONDKEY00002")  # kept for the next flush
    monkeypatch.setattr(store, "add_access_keys", real)
    t.stop()
    stored = store.get(rec.id)
    assert stored is not None
    assert stored.access_key_ids == ("ASIAFIRSTKEY000001", "ASIASECONDKEY00002")
