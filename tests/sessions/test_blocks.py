"""Blocks in the session table: stored, listed, lifted, and never mistaken for sessions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from subprocess import CompletedProcess
from typing import Any

import pytest
from sessionhelpers import T0, record, seed

from sentinelgw.errors import UsageError
from sentinelgw.sessions.blocks import (
    Block,
    UserBlocked,
    check_not_blocked,
    get_block,
    lift_block,
    list_blocks,
    put_block,
)
from sentinelgw.sessions.export import write_csv, write_json
from sentinelgw.sessions.store import SessionStore

Run = Callable[..., CompletedProcess[str]]


def blocked(user: str = "alice", hours: int | None = None) -> Block:
    until = T0 + timedelta(hours=hours) if hours is not None else None
    return Block(
        user=user,
        blocked_by="arn:aws:iam::123456789012:user/secops",
        reason="laptop stolen",
        blocked_at=T0,
        until=until,
    )


def test_put_get_list_delete(store: SessionStore) -> None:
    put_block(store.client, store.table, blocked("alice", hours=24))
    put_block(store.client, store.table, blocked("bob"))
    assert get_block(store.client, store.table, "alice", T0 + timedelta(hours=1)) == blocked(
        "alice", hours=24
    )
    # A timed block ends by itself; an open-ended one does not.
    assert get_block(store.client, store.table, "alice", T0 + timedelta(hours=24)) is None
    assert get_block(store.client, store.table, "bob", T0 + timedelta(days=400)) == blocked("bob")
    later = T0 + timedelta(days=2)
    assert [b.user for b in list_blocks(store.client, store.table, later)] == ["bob"]
    every = list_blocks(store.client, store.table, later, include_ended=True)
    assert [b.user for b in every] == ["alice", "bob"]
    secops = "arn:aws:iam::123456789012:user/lead"
    lifted = lift_block(store.client, store.table, "bob", by=secops, now=later)
    assert lifted == Block(
        user="bob",
        blocked_by=blocked("bob").blocked_by,
        reason="laptop stolen",
        blocked_at=T0,
        lifted_by=secops,
        lifted_at=later,
    )
    assert lift_block(store.client, store.table, "bob", by=secops, now=later) is None
    assert get_block(store.client, store.table, "bob", later) is None
    assert list(list_blocks(store.client, store.table, later)) == []
    # The history stays: who blocked, who lifted.
    assert list(list_blocks(store.client, store.table, later, include_ended=True)) == [
        blocked("alice", hours=24),
        lifted,
    ]
    # Blocking again replaces the lifted block.
    put_block(store.client, store.table, blocked("bob"))
    assert get_block(store.client, store.table, "bob", later) == blocked("bob")


def test_check_not_blocked_is_a_denial_naming_the_fix(store: SessionStore) -> None:
    check_not_blocked(store.client, store.table, "alice", T0)  # not blocked: no error
    put_block(store.client, store.table, blocked("alice"))
    with pytest.raises(UserBlocked) as info:
        check_not_blocked(store.client, store.table, "alice", T0)
    assert info.value.exit_code == 1
    assert "laptop stolen" in str(info.value)
    assert "sentinel server-unblock --user alice" in str(info.value)


@pytest.mark.parametrize("user", ["", "a\nb", "x" * 300])
def test_bad_user_names_are_usage_errors(store: SessionStore, user: str) -> None:
    with pytest.raises(UsageError):
        get_block(store.client, store.table, user, T0)


def test_listings_and_exports_never_show_blocks(store: SessionStore) -> None:
    seed(store.client, store.table, [record(n) for n in range(3)])
    put_block(store.client, store.table, blocked("alice"))
    queries = [
        store.query(now=T0),
        store.query(user="alice", now=T0),
        store.query(status="active", now=T0),
        store.query(status="revoked", now=T0),
        store.query(profile="prod", now=T0),
    ]
    for rows in queries:
        assert all(not r.id.startswith("block#") for r in rows)
    assert len(list(store.query(user="alice", now=T0))) == 3
    assert store.batch_get(["block#alice", "block#", f"{1:016x}"]).keys() == {f"{1:016x}"}
    assert store.get("block#alice") is None
    out = io.StringIO()
    assert write_json(store.query(now=T0), out, T0) == 3
    assert "block#" not in out.getvalue()
    out = io.StringIO()
    assert write_csv(store.query(now=T0), out, T0) == 3
    assert "block#" not in out.getvalue()


def test_the_cli_blocks_lists_and_unblocks(run_sentinel: Run, store: SessionStore) -> None:
    table = store.table
    proc = run_sentinel(
        [
            "server-revoke",
            "--user",
            "carol",
            "--block",
            "--for",
            "2h",
            "--reason",
            "account compromised",
            "--table",
            table,
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "blocked user carol until " in proc.stdout
    assert "0 active sessions of user carol revoked" in proc.stdout
    rows = json.loads(run_sentinel(["server-blocks", "--table", table, "--format", "json"]).stdout)
    assert [(r["user"], r["reason"], r["active"]) for r in rows] == [
        ("carol", "account compromised", True)
    ]
    assert rows[0]["blocked_by"].startswith("arn:aws:") and rows[0]["until"].endswith("Z")
    text = run_sentinel(["server-blocks", "--table", table, "--format", "csv"]).stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["user"] for r in parsed] == ["carol"]
    human = run_sentinel(["server-blocks", "--table", table])
    assert "carol" in human.stdout and "account compromised" in human.stdout
    lifted = run_sentinel(["server-unblock", "--user", "carol", "--table", table])
    assert lifted.returncode == 0 and "lifted the block on user carol" in lifted.stdout
    again = run_sentinel(["server-unblock", "--user", "carol", "--table", table])
    assert again.returncode == 2 and "user carol is not blocked" in again.stderr
    assert (
        json.loads(run_sentinel(["server-blocks", "--table", table, "--format", "json"]).stdout)
        == []
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--reason", "x"],
        ["0123456789abcdef", "--user", "alice", "--reason", "x"],
        ["0123456789abcdef", "--block", "--reason", "x"],
        ["--user", "alice", "--for", "2h", "--reason", "x"],
        ["--user", "alice", "--block", "--for", "soon", "--reason", "x"],
    ],
)
def test_revoke_flag_combinations_are_usage_errors(
    run_sentinel: Run, store: SessionStore, args: list[str]
) -> None:
    proc = run_sentinel(["server-revoke", *args, "--table", store.table])
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith("sentinel: error:") and "Traceback" not in proc.stderr


def test_revoke_user_revokes_only_that_users_active_sessions(
    run_sentinel: Run, store: SessionStore, ddb: Any
) -> None:
    ended = record(2).with_status("expired")
    seed(
        store.client,
        store.table,
        [record(0), record(1), ended, record(3, user="bob", source_identity="sentinel.bob.x")],
    )
    proc = run_sentinel(
        [
            "server-revoke",
            "--user",
            "alice",
            "--reason",
            "offboarding",
            "--soft",
            "--table",
            store.table,
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 active sessions of user alice revoked" in proc.stdout
    status = {r.id: r.status for r in store.query(now=T0)}
    assert status == {
        f"{0:016x}": "revoked",
        f"{1:016x}": "revoked",
        f"{2:016x}": "expired",
        f"{3:016x}": "active",
    }
    assert list(list_blocks(store.client, store.table, T0)) == []  # no --block, no block


def test_a_block_id_carrying_index_attributes_is_still_skipped(store: SessionStore) -> None:
    # Written by another tool with session-like attributes, so it lands in every index.
    item = record(9).to_item()
    item["id"] = {"S": "block#mallory"}
    store.client.put_item(TableName=store.table, Item=item)
    seed(store.client, store.table, [record(1)])
    for rows in (
        store.query(now=T0),
        store.query(user="alice", now=T0),
        store.query(status="active", now=T0),
        store.query(profile="prod", now=T0),
    ):
        assert [r.id for r in rows] == [f"{1:016x}"]


def test_an_unreadable_block_refuses_only_sessions_that_must_be_tracked(ddb: Any) -> None:
    from sentinelgw.errors import SessionStoreError
    from sentinelgw.sessions.blocks import refuse_if_blocked

    with pytest.raises(SessionStoreError, match="no credentials were issued"):
        refuse_if_blocked(ddb, "no-such-table-x", "alice", T0, required=True)
    # Not required: the record creation that follows reports the table problem itself.
    refuse_if_blocked(ddb, "no-such-table-x", "alice", T0, required=False)
