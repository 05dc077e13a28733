"""SessionStore against moto: conditional writes, races, batch reads, error translation."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sessionhelpers import T0, make_client, record, seed

from sentinelgw.errors import SessionNotFound, SessionStoreError
from sentinelgw.sessions.store import SessionStore

REVOKER = "arn:aws:iam::123456789012:user/security"


def test_create_then_get_returns_the_same_record(store: SessionStore) -> None:
    rec = record(1)
    store.create(rec)
    assert store.get(rec.id) == rec
    assert store.status(rec.id) == "active"
    assert store.get("f" * 16) is None
    assert store.status("f" * 16) is None


def test_create_never_overwrites(store: SessionStore) -> None:
    store.create(record(1))
    with pytest.raises(SessionStoreError, match="already exists"):
        store.create(record(1, user="mallory"))
    got = store.get(record(1).id)
    assert got is not None and got.user == "alice"


def test_touch_counts_atomically_and_sets_last_access(store: SessionStore) -> None:
    rec = record(2)
    store.create(rec)
    assert store.touch(rec.id, 3, T0 + timedelta(minutes=1))
    assert store.touch(rec.id, 2, T0 + timedelta(minutes=2))
    got = store.get(rec.id)
    assert got is not None
    assert got.request_count == 5
    assert got.last_access_at == T0 + timedelta(minutes=2)
    assert got.status == "active"


def test_touch_of_unknown_session_is_false_not_an_error(store: SessionStore) -> None:
    assert store.touch("a" * 16, 1, T0) is False
    assert store.get("a" * 16) is None  # no half-created item either


def test_mark_expired_only_from_active(store: SessionStore) -> None:
    rec = record(3)
    store.create(rec)
    assert store.mark_expired(rec.id, T0 + timedelta(hours=1)) is True
    assert store.status(rec.id) == "expired"
    assert store.mark_expired(rec.id, T0 + timedelta(hours=2)) is False
    assert store.touch(rec.id, 1, T0) is False
    assert store.mark_expired("b" * 16, T0) is False


def test_revoke_records_who_why_and_when(store: SessionStore) -> None:
    rec = record(4)
    store.create(rec)
    at = T0 + timedelta(minutes=30)
    revoked = store.revoke(rec.id, REVOKER, "laptop lost", at)
    assert revoked.status == "revoked"
    assert (revoked.revoked_by, revoked.revoked_reason, revoked.revoked_at) == (
        REVOKER,
        "laptop lost",
        at,
    )
    assert store.get(rec.id) == revoked
    # The server ending afterwards must not overwrite the revocation.
    assert store.mark_expired(rec.id, at) is False
    assert store.status(rec.id) == "revoked"


def test_revoke_unknown_and_twice_are_session_not_found(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound, match=f"unknown session {'c' * 16}") as unknown:
        store.revoke("c" * 16, REVOKER, "x", T0)
    assert unknown.value.exit_code == 2
    rec = record(5)
    store.create(rec)
    store.revoke(rec.id, REVOKER, "first", T0)
    with pytest.raises(SessionNotFound, match="is already revoked"):
        store.revoke(rec.id, REVOKER, "second", T0)
    got = store.get(rec.id)
    assert got is not None and got.revoked_reason == "first"
    # An ended session whose last credential expired more than the clock skew ago.
    ended = record(6, expires_at=T0 - timedelta(minutes=30))
    store.create(ended)
    store.mark_expired(ended.id, T0)
    with pytest.raises(
        SessionNotFound,
        match="has ended and the last credential it issued expired at 2026-01-24T08:30:00Z",
    ):
        store.revoke(ended.id, REVOKER, "late", T0)


def test_revoke_works_on_a_record_left_active_past_expiry(store: SessionStore) -> None:
    # A server killed with SIGKILL leaves "active"; if it is in fact alive, revoke must work.
    rec = record(7, expires_at=T0 + timedelta(minutes=1))
    store.create(rec)
    assert store.revoke(rec.id, REVOKER, "stale", T0 + timedelta(hours=1)).status == "revoked"


def test_touch_after_revoke_is_refused_and_does_not_count(store: SessionStore) -> None:
    rec = record(8)
    store.create(rec)
    assert store.touch(rec.id, 1, T0)
    store.revoke(rec.id, REVOKER, "r", T0 + timedelta(seconds=1))
    assert store.touch(rec.id, 1, T0 + timedelta(seconds=2)) is False
    got = store.get(rec.id)
    assert got is not None
    assert got.status == "revoked" and got.request_count == 1
    assert got.last_access_at == T0


def test_concurrent_touches_never_undo_a_revoke(
    ddb: Any, store: SessionStore, endpoint_url: str
) -> None:
    rec = record(9)
    store.create(rec)
    accepted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def toucher() -> None:
        own = SessionStore(make_client(endpoint_url), store.table)
        start.wait(timeout=30)
        for i in range(40):
            if own.touch(rec.id, 1, T0 + timedelta(seconds=i)):
                with lock:
                    accepted.append(1)

    threads = [threading.Thread(target=toucher) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    store.revoke(rec.id, REVOKER, "race", T0)
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    got = store.get(rec.id)
    assert got is not None
    assert got.status == "revoked"
    assert got.revoked_reason == "race"
    # Every touch that reported success was counted, and none after the revoke.
    assert got.request_count == len(accepted)
    assert store.touch(rec.id, 1, T0) is False


def test_batch_get_250_ids_takes_three_calls(ddb: Any, store: SessionStore) -> None:
    records = [record(i) for i in range(250)]
    seed(ddb, store.table, records)
    calls: list[int] = []

    def count(**kwargs: Any) -> None:
        calls.append(len(kwargs["params"]["RequestItems"][store.table]["Keys"]))

    ddb.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    try:
        ids = [r.id for r in records] + [records[0].id, records[1].id] + ["e" * 16]
        found = store.batch_get(ids)
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", count)
    assert calls == [100, 100, 51]  # 251 distinct ids (one unknown), duplicates dropped
    assert store.batch_calls == 3 and store.read_calls == 251
    assert set(found) == {r.id for r in records}
    assert found[records[42].id] == records[42]


def test_batch_get_of_nothing_makes_no_call(store: SessionStore) -> None:
    assert store.batch_get([]) == {}
    assert store.batch_calls == 0


class _DropsHalfOnce:
    """A client wrapper that makes the first BatchGetItem return half its keys unprocessed.

    Moto never returns UnprocessedKeys; real DynamoDB does under load. The wrapper forwards
    everything to the real moto client and only shapes that one response.
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.calls > 1:
            return dict(self._real.batch_get_item(RequestItems=RequestItems))
        ((table, req),) = RequestItems.items()
        keys = req["Keys"]
        half = len(keys) // 2
        resp = dict(self._real.batch_get_item(RequestItems={table: {"Keys": keys[:half]}}))
        resp["UnprocessedKeys"] = {table: {"Keys": keys[half:]}}
        return resp


def test_batch_get_retries_unprocessed_keys(ddb: Any, store: SessionStore) -> None:
    records = [record(i) for i in range(10)]
    seed(ddb, store.table, records)
    flaky = _DropsHalfOnce(ddb)
    found = SessionStore(flaky, store.table, retry_delay=0.001).batch_get(r.id for r in records)
    assert flaky.calls == 2
    assert set(found) == {r.id for r in records}


def test_missing_table_names_table_region_and_fix(ddb: Any) -> None:
    missing = SessionStore(ddb, "no-such-table")
    with pytest.raises(SessionStoreError) as err:
        missing.get("0" * 16)
    text = str(err.value)
    assert "session table 'no-such-table' in us-east-1 was not found" in text
    assert "dynamodb:GetItem" in text
    assert "sentinel init sessions --table no-such-table --region us-east-1" in text
    with pytest.raises(SessionStoreError, match="was not found"):
        list(missing.query(status="active"))
    with pytest.raises(SessionStoreError, match="was not found"):
        missing.create(record(0))


def test_foreign_items_are_a_store_error(ddb: Any, store: SessionStore) -> None:
    ddb.put_item(TableName=store.table, Item={"id": {"S": "d" * 16}, "note": {"S": "x"}})
    with pytest.raises(SessionStoreError, match="cannot read"):
        store.get("d" * 16)


def test_touch_can_move_expiry_on_but_never_revives(store: SessionStore) -> None:
    rec = record(10, expires_at=T0 + timedelta(minutes=15))
    store.create(rec)
    later = T0 + timedelta(hours=1)
    assert store.touch(rec.id, 1, T0 + timedelta(minutes=14), expires_at=later, ttl=123)
    got = store.get(rec.id)
    assert got is not None and got.expires_at == later and got.ttl == 123
    assert got.effective_status(T0 + timedelta(minutes=30)) == "active"
    store.revoke(rec.id, REVOKER, "r", T0)
    assert store.touch(rec.id, 1, T0, expires_at=later + timedelta(hours=1)) is False
    assert store.get(rec.id).expires_at == later  # type: ignore[union-attr]


def test_access_keys_are_added_as_a_set_whatever_the_status(store: SessionStore) -> None:
    rec = record(3)
    store.create(rec)
    store.add_access_keys(rec.id, ["ASIAFIRSTKEY000001"])
    store.add_access_keys(rec.id, ["ASIASECONDKEY00002", "ASIAFIRSTKEY000001"])
    store.revoke(rec.id, REVOKER, "lost", T0)
    store.add_access_keys(rec.id, ["ASIATHIRDKEY000003"])  # issued before the revoke landed
    got = store.get(rec.id)
    assert got is not None
    assert got.access_key_ids == (
        "ASIAFIRSTKEY000001",
        "ASIASECONDKEY00002",
        "ASIATHIRDKEY000003",
    )
    assert got.status == "revoked"


def test_access_keys_of_an_unknown_session_are_refused(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound):
        store.add_access_keys("e" * 16, ["ASIAFIRSTKEY000001"])
    assert store.get("e" * 16) is None
