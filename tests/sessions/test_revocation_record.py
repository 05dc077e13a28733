"""A revoked record stays revoked: no touch, expiry, restart or rewritten status undoes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sessionhelpers import T0, record

from sentinelgw.errors import SessionNotFound
from sentinelgw.sessions.store import SessionStore

SID = f"{5:016x}"


def revoked_store(store: SessionStore) -> SessionStore:
    store.create(record(5))
    store.revoke(SID, "arn:aws:iam::123456789012:user/secops", "stolen laptop", T0)
    return store


def assert_still_revoked(store: SessionStore) -> None:
    rec = store.get(SID)
    assert rec is not None
    assert (rec.revoked_by, rec.revoked_reason, rec.revoked_at) == (
        "arn:aws:iam::123456789012:user/secops",
        "stolen laptop",
        T0,
    )
    assert rec.effective_status(T0) == "revoked"
    assert store.status(SID) == "revoked"


def test_touch_expiry_and_restart_never_clear_a_revocation(store: SessionStore) -> None:
    revoked_store(store)
    later = T0 + timedelta(minutes=5)
    assert store.touch(SID, 3, later) is False
    assert store.touch(SID, 1, later, expires_at=later + timedelta(hours=1), ttl=1) is False
    assert store.mark_expired(SID, later) is False  # what a stopping or restarted server does
    with pytest.raises(SessionNotFound, match="already revoked"):
        store.revoke(SID, "someone-else", "again", later)
    assert_still_revoked(store)
    rec = store.get(SID)
    assert rec is not None and rec.request_count == 0


def test_a_status_rewritten_by_hand_still_reads_revoked(store: SessionStore) -> None:
    revoked_store(store)
    # What a user with UpdateItem on the table could do to bring the session back.
    store.client.update_item(
        TableName=store.table,
        Key={"id": {"S": SID}},
        UpdateExpression="SET #s = :a",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":a": {"S": "active"}},
    )
    assert store.touch(SID, 1, T0) is False
    assert store.mark_expired(SID, T0) is False
    with pytest.raises(SessionNotFound, match="already revoked"):
        store.revoke(SID, "someone-else", "again", T0)
    assert_still_revoked(store)
    assert [r.id for r in store.query(status="revoked", now=T0)] == [SID]
    assert list(store.query(status="active", now=T0)) == []


def test_an_active_session_is_still_touched_and_expired(store: SessionStore) -> None:
    store.create(record(6))
    sid = f"{6:016x}"
    assert store.touch(sid, 2, T0) is True
    assert store.mark_expired(sid, T0) is True
    rec = store.get(sid)
    assert rec is not None and rec.status == "expired" and rec.request_count == 2


def test_a_lapsed_session_needs_no_iam_deny() -> None:
    """A record still stored active long after expires_at has no live credentials: revoking it
    writes no IAM deny, so a role IAM cannot edit (Identity Center) does not fail the revoke."""
    from datetime import UTC, datetime, timedelta

    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.sessions.revocation.revoke import LAPSE_MARGIN, deny_in_iam

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    sso_role = (
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_Admin_0123456789abcdef"
    )

    def record(expires_at: datetime) -> SessionRecord:
        return SessionRecord.new(
            id="0123456789abcdef",
            user="alice",
            profile="prod-sso",
            role_arn=sso_role,
            started_at=expires_at - timedelta(hours=1),
            expires_at=expires_at,
            server_instance_id="t",
            source_identity="sentinel.alice.0123456789abcdef",
            host="h",
        )

    lapsed = deny_in_iam(None, record(now - LAPSE_MARGIN - timedelta(seconds=1)), now=now)
    assert lapsed.lapsed and lapsed.iam is None and lapsed.iam_error is None
    live = deny_in_iam(None, record(now - LAPSE_MARGIN + timedelta(seconds=1)), now=now)
    assert not live.lapsed and live.iam_error is not None  # Identity Center roles refused
    assert "Identity Center" in str(live.iam_error)
