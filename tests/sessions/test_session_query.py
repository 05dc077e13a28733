"""SessionStore.query: index choice, effective-status filters, --since, limit, paging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sessionhelpers import T0, record, seed

from sentinelgw.errors import UsageError
from sentinelgw.sessions.store import SessionStore

NOW = T0 + timedelta(days=1)


@pytest.fixture
def mixed(ddb: Any, store: SessionStore) -> SessionStore:
    """Six sessions: alice/bob, prod/dev, active, revoked, expired and a stale active one."""
    seed(
        ddb,
        store.table,
        [
            record(1, user="alice", profile="prod", expires_at=NOW + timedelta(hours=1)),
            record(
                2,
                user="bob",
                profile="prod",
                status="revoked",
                revoked_by="x",
                revoked_reason="y",
                revoked_at=T0,
            ),
            record(3, user="alice", profile="dev", status="expired"),
            # Left "active" by a killed server, long past its expiry:
            record(4, user="bob", profile="dev", expires_at=T0 + timedelta(minutes=15)),
            record(5, user="alice", profile="prod", expires_at=NOW + timedelta(hours=2)),
            record(
                6,
                user="carol",
                profile="prod",
                expires_at=NOW + timedelta(hours=2),
                source_identity="",
                server_instance_id="",
            ),
        ],
    )
    return store


def ids(records: Any) -> list[int]:
    return [int(r.id, 16) for r in records]


def test_no_filter_returns_everything_newest_first(mixed: SessionStore) -> None:
    assert ids(mixed.query(now=NOW)) == [6, 5, 4, 3, 2, 1]


def test_status_filters_use_effective_status(mixed: SessionStore) -> None:
    assert ids(mixed.query(status="active", now=NOW)) == [6, 5, 1]
    assert ids(mixed.query(status="expired", now=NOW)) == [4, 3]
    assert ids(mixed.query(status="revoked", now=NOW)) == [2]


def test_user_and_profile_filters_combine(mixed: SessionStore) -> None:
    assert ids(mixed.query(user="alice", now=NOW)) == [5, 3, 1]
    assert ids(mixed.query(profile="dev", now=NOW)) == [4, 3]
    assert ids(mixed.query(user="alice", profile="prod", now=NOW)) == [5, 1]
    assert ids(mixed.query(user="bob", status="expired", now=NOW)) == [4]
    assert ids(mixed.query(user="nobody", now=NOW)) == []


def test_since_is_a_sort_key_condition(mixed: SessionStore) -> None:
    assert ids(mixed.query(since=T0 + timedelta(seconds=4), now=NOW)) == [6, 5, 4]
    assert ids(mixed.query(user="alice", since=T0 + timedelta(seconds=2), now=NOW)) == [5, 3]


def test_limit_stops_early(mixed: SessionStore) -> None:
    assert ids(mixed.query(limit=2, now=NOW)) == [6, 5]
    assert ids(mixed.query(status="expired", limit=1, now=NOW)) == [4]


def test_unknown_status_is_a_usage_error(mixed: SessionStore) -> None:
    with pytest.raises(UsageError, match="invalid status"):
        list(mixed.query(status="paused"))


def test_paging_many_records_with_small_pages(ddb: Any, store: SessionStore) -> None:
    # 300 records at 10 and 25 a page: every page boundary is crossed dozens of times (the
    # size of the table is not the point, following LastEvaluatedKey is).
    records = [
        record(
            i,
            user="alice" if i % 2 else "bob",
            status=("active", "revoked", "expired")[i % 3],
            expires_at=NOW + timedelta(days=1),
        )
        for i in range(300)
    ]
    seed(ddb, store.table, records)
    pages = []

    def count(**kwargs: Any) -> None:
        pages.append(kwargs["params"].get("ExclusiveStartKey"))

    ddb.meta.events.register("provide-client-params.dynamodb.Query", count)
    try:
        got = list(store.query(now=NOW, page_size=10))
        alice = list(store.query(user="alice", now=NOW, page_size=25))
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.Query", count)
    assert len(got) == 300 and len({r.id for r in got}) == 300
    assert [r.started_at for r in got] == sorted((r.started_at for r in records), reverse=True)
    assert len(alice) == 150 and all(r.user == "alice" for r in alice)
    # 3 status partitions of 100 at 10 a page, then 150 at 25 a page: every page followed.
    assert len(pages) >= 30 + 6
    assert sum(1 for p in pages if p is not None) >= 27 + 5
