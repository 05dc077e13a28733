"""Revoking every session of a user at once: the block first, the table step in parallel,
then ONE IAM write per role holding all the user's SourceIdentities (or the user's wildcard
where the quota requires it), against the sandbox over HTTP."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from revocationhelpers import FAST, REVOKER, iam_client, live_sessions, new_role, pad_role, policy
from sessionhelpers import seed

from sentinelgw.sessions.blocks import get_block
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revocation.deny_document import (
    merge_document,
    revoked_entries,
    user_pattern,
    wildcard_entries,
)
from sentinelgw.sessions.revocation.revoke import revoke_user
from sentinelgw.sessions.store import SessionStore


@pytest.fixture
def iam(endpoint_url: str) -> Any:
    return iam_client(endpoint_url)


def puts(iam: Any) -> list[str]:
    """Role names of the PutRolePolicy calls ``iam`` makes from now on (observed, not mocked)."""
    seen: list[str] = []

    def note(params: dict[str, Any], **_kw: Any) -> None:
        seen.append(str(params.get("RoleName")))

    iam.meta.events.register("provide-client-params.iam.PutRolePolicy", note)
    return seen


def test_a_users_sessions_are_denied_with_one_iam_write_per_role(
    store: SessionStore, iam: Any
) -> None:
    prod, dev = new_role(iam), new_role(iam)
    mine = live_sessions(6, prod) + live_sessions(4, dev, first=6)
    theirs = live_sessions(1, prod, first=20, user="bob")
    seed(store.client, store.table, mine + theirs)
    written = puts(iam)
    result = revoke_user(
        store, iam, "alice", by=REVOKER, reason="offboarding", now=datetime.now(UTC), **FAST
    )
    assert sorted(written) == sorted([prod.rsplit("/", 1)[-1], dev.rsplit("/", 1)[-1]])
    assert {o.record.id for o in result.sessions} == {r.id for r in mine}
    assert all(o.iam is not None and o.iam_error is None for o in result.sessions)
    for role, records in ((prod, mine[:6]), (dev, mine[6:])):
        denied = set().union(*revoked_entries(policy(iam, role)).values())
        assert denied == {r.source_identity for r in records}
    assert {r.id: r.status for r in store.query(now=datetime.now(UTC))} == {
        **{r.id: "revoked" for r in mine},
        theirs[0].id: "active",
    }


def test_a_users_revocation_past_the_quota_writes_the_users_wildcard(
    store: SessionStore, iam: Any
) -> None:
    role = new_role(iam)
    records = live_sessions(30, role)
    seed(store.client, store.table, records)
    pad_role(iam, role, room=600)  # 30 entries need about 1,000 characters, a wildcard 250
    now = datetime.now(UTC)
    result = revoke_user(store, iam, "alice", by=REVOKER, reason="quota", now=now, **FAST)
    document = policy(iam, role)
    assert revoked_entries(document) == {}
    wildcards = wildcard_entries(document)
    assert list(wildcards.values()) == [{user_pattern("alice")}]
    statement = document["Statement"][-1]
    # Rounded up to the second: a credential issued in the revocation's second is before it.
    ceiling = now.replace(microsecond=0) + timedelta(seconds=1 if now.microsecond else 0)
    assert statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"] == (
        ceiling.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert all(o.iam is not None and o.iam.wildcard for o in result.sessions)
    assert all(fnmatch.fnmatchcase(r.source_identity, user_pattern("alice")) for r in records)


def test_the_users_wildcard_never_matches_another_user_with_a_dotted_name() -> None:
    pattern = user_pattern("alice")
    assert fnmatch.fnmatchcase("sentinel.alice.0123456789abcdef", pattern)
    assert not fnmatch.fnmatchcase("sentinel.alice.bob.0123456789abcdef", pattern)
    assert not fnmatch.fnmatchcase("sentinel.alicex.0123456789abcdef", pattern)
    with pytest.raises(ValueError):
        user_pattern("alice*")


def test_a_wildcard_replaces_the_users_entries_and_is_pruned_after_max_session() -> None:
    t0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    a, b = "sentinel.alice.aaaaaaaaaaaaaaaa", "sentinel.bob.bbbbbbbbbbbbbbbb"
    one, _ = merge_document(None, [a, b], now=t0, max_session=timedelta(hours=1))
    two, _ = merge_document(
        one,
        ["sentinel.alice.cccccccccccccccc"],
        now=t0 + timedelta(minutes=5),
        max_session=timedelta(hours=1),
        user_patterns=[user_pattern("alice")],
    )
    assert revoked_entries(two) == {"SentinelRevoked2026120114": {b}}
    assert wildcard_entries(two) == {"SentinelRevokedBefore20261201140500": {user_pattern("alice")}}
    later, pruned = merge_document(
        two, [], now=t0 + timedelta(hours=2, minutes=6), max_session=timedelta(hours=1)
    )
    assert wildcard_entries(later) == {} and pruned == 2


def test_a_blocked_users_revocation_writes_the_block_first_then_the_wildcard(
    store: SessionStore, iam: Any
) -> None:
    role = new_role(iam)
    seed(store.client, store.table, live_sessions(3, role))
    now = datetime.now(UTC)
    result = revoke_user(
        store, iam, "alice", by=REVOKER, reason="compromised", now=now, block=True, **FAST
    )
    assert result.block is not None and get_block(store.client, store.table, "alice", now)
    wildcards = wildcard_entries(policy(iam, role))
    (sid,) = wildcards
    # The bound is past the block by the clock skew, so a session that started just before
    # the block (its credentials issued before it was written) is covered too.
    assert sid > "SentinelRevokedBefore" + now.strftime("%Y%m%d%H%M%S")
    assert len(result.sessions) == 3 and all(o.iam and o.iam.wildcard for o in result.sessions)


def test_one_hundred_sessions_of_one_user_are_revoked_table_and_iam(
    store: SessionStore, iam: Any
) -> None:
    """The benchmark's case (benchmarks/revoke_user_bench.py times it): every record revoked
    and every SourceIdentity denied, with one policy write."""
    role = new_role(iam)
    records: list[SessionRecord] = live_sessions(100, role)
    seed(store.client, store.table, records)
    written = puts(iam)
    result = revoke_user(store, iam, "alice", by=REVOKER, reason="bulk", now=datetime.now(UTC))
    assert len(result.sessions) == 100 and len(written) == 1
    assert all(o.iam_error is None for o in result.sessions)
    stored = store.batch_get(r.id for r in records)
    assert {r.status for r in stored.values()} == {"revoked"}
    # 100 entries of about 33 characters fit the quota: each is named, no wildcard.
    document = policy(iam, role)
    assert set().union(*revoked_entries(document).values()) == {r.source_identity for r in records}
    assert wildcard_entries(document) == {}


def test_a_users_session_without_a_role_is_revoked_and_reported_not_denied(
    store: SessionStore, iam: Any
) -> None:
    role = new_role(iam)
    (with_role,) = live_sessions(1, role)
    (no_role,) = live_sessions(1, "", first=1)
    seed(store.client, store.table, [with_role, no_role])
    result = revoke_user(store, iam, "alice", by=REVOKER, reason="x", now=datetime.now(UTC), **FAST)
    by_id = {o.record.id: o for o in result.sessions}
    assert by_id[with_role.id].iam is not None
    assert "not an IAM role ARN" in str(by_id[no_role.id].iam_error)
    assert {r.status for r in store.batch_get([with_role.id, no_role.id]).values()} == {"revoked"}
