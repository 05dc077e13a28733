"""Lifting a block cuts the blocked user's IAM wildcard down to the time of the lift: the
user's new sessions work at once, credentials issued before stay denied, and nobody else's
wildcard moves. The document step alone, then against the sandbox's IAM over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from revocationhelpers import (
    FAST,
    REVOKER,
    deny_put_proxy,
    iam_client,
    live_sessions,
    new_role,
    policy,
)
from sessionhelpers import seed

from sentinelgw.sessions.blocks import lift_block
from sentinelgw.sessions.revocation.deny_document import (
    cut_wildcard,
    merge_document,
    revoked_entries,
    user_pattern,
    wildcard_entries,
)
from sentinelgw.sessions.revocation.revoke import BLOCK_MARGIN, revoke_user
from sentinelgw.sessions.revocation.unblock import cut_block_wildcards
from sentinelgw.sessions.store import SessionStore

ALICE, BOB = user_pattern("alice"), user_pattern("bob")
T0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
FOREIGN = {"Sid": "Theirs", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}


def _blocked_document() -> dict[str, Any]:
    """alice and bob blocked in the same second (one wildcard), an entry of carol's, and a
    statement Sentinel did not write."""
    doc, _ = merge_document(
        {"Version": "2012-10-17", "Statement": [FOREIGN]},
        ["sentinel.carol.cccccccccccccccc"],
        now=T0,
        max_session=timedelta(hours=1),
        user_patterns=[ALICE, BOB],
        before=T0 + BLOCK_MARGIN,
    )
    return doc


def test_the_lifted_users_wildcard_ends_at_the_lift_and_nothing_else_moves() -> None:
    lift = T0 + timedelta(seconds=20, microseconds=700_000)
    cut = cut_wildcard(_blocked_document(), ALICE, lift)
    assert cut is not None
    assert wildcard_entries(cut) == {
        "SentinelRevokedBefore20261201140020": {ALICE},  # rounded down to the second
        "SentinelRevokedBefore20261201140100": {BOB},
    }
    assert revoked_entries(cut) == {
        "SentinelRevoked2026120114": {"sentinel.carol.cccccccccccccccc"}
    }
    assert cut["Statement"][0] == FOREIGN
    assert cut_wildcard(cut, ALICE, lift) is None  # done: a repeat writes nothing


def test_a_wildcard_that_already_ends_before_the_lift_is_left_alone() -> None:
    doc = _blocked_document()
    assert cut_wildcard(doc, ALICE, T0 + timedelta(minutes=5)) is None
    assert cut_wildcard(doc, user_pattern("dave"), T0) is None
    assert cut_wildcard(None, ALICE, T0) is None


@pytest.fixture
def iam(endpoint_url: str) -> Any:
    return iam_client(endpoint_url)


def _blocked_on_two_roles(
    store: SessionStore, iam: Any, user: str, first_id: int
) -> tuple[str, str, datetime]:
    """Two new roles with two live sessions of ``user`` each, then ``user`` blocked (and the
    wildcard written on both); (first role, second role, block time)."""
    first, second = new_role(iam), new_role(iam)
    sessions = live_sessions(2, first, first=first_id, user=user)
    sessions += live_sessions(2, second, first=first_id + 0x10, user=user)
    seed(store.client, store.table, sessions)
    blocked_at = datetime.now(UTC)
    revoke_user(store, iam, user, by=REVOKER, reason="test", now=blocked_at, block=True, **FAST)
    return first, second, blocked_at


def test_the_roles_of_the_block_are_cut_and_another_blocked_user_stays_denied(
    store: SessionStore, iam: Any
) -> None:
    first, second, blocked_at = _blocked_on_two_roles(store, iam, "alice", 0x51)
    seed(store.client, store.table, live_sessions(2, first, first=0x71, user="bob"))
    revoke_user(store, iam, "bob", by=REVOKER, reason="test", now=blocked_at, block=True, **FAST)
    (bob_sid,) = (sid for sid, p in wildcard_entries(policy(iam, first)).items() if BOB in p)
    lifted_at = blocked_at + timedelta(seconds=10)
    block = lift_block(store.client, store.table, "alice", by=REVOKER, now=lifted_at)
    assert block is not None
    outcomes = cut_block_wildcards(store, iam, block, now=lifted_at, **FAST)
    assert [(o.role_arn, o.cut, o.error) for o in outcomes] == sorted(
        [(first, True, None), (second, True, None)]
    )
    lift_sid = "SentinelRevokedBefore" + lifted_at.strftime("%Y%m%d%H%M%S")
    assert bob_sid > "SentinelRevokedBefore" + (blocked_at + BLOCK_MARGIN).strftime("%Y%m%d%H%M")
    assert wildcard_entries(policy(iam, first)) == {lift_sid: {ALICE}, bob_sid: {BOB}}
    assert wildcard_entries(policy(iam, second)) == {lift_sid: {ALICE}}
    again = cut_block_wildcards(store, iam, block, now=lifted_at, **FAST)
    assert [o.cut for o in again] == [False, False]


def test_a_role_iam_refuses_is_named_and_the_others_are_still_cut(
    store: SessionStore, iam: Any, endpoint_url: str
) -> None:
    first, second, blocked_at = _blocked_on_two_roles(store, iam, "erin", 0x81)
    block = lift_block(store.client, store.table, "erin", by=REVOKER, now=blocked_at)
    assert block is not None
    with deny_put_proxy(endpoint_url, only_role=second.rsplit("/", 1)[-1]) as url:
        outcomes = cut_block_wildcards(store, iam_client(url), block, now=blocked_at, **FAST)
    by_role = {o.role_arn: o for o in outcomes}
    assert by_role[first].cut and by_role[first].error is None
    assert not by_role[second].cut and by_role[second].error is not None
    assert "iam:PutRolePolicy" in str(by_role[second].error)
