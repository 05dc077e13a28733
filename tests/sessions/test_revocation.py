"""Hard revocation: the exact SentinelRevokedSessions document, pruning, the full quota and
concurrent revokes, against the sandbox's IAM over HTTP."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from revocationhelpers import iam_client, new_role, pad_role, policy

from sentinelgw.errors import HardRevocationError
from sentinelgw.sessions.revocation.deny_document import merge_document, revoked_entries
from sentinelgw.sessions.revocation.role_deny import (
    RoleQuotaFull,
    hard_revoke,
    revoke_older_sessions,
    role_name_from_arn,
)

T0 = datetime(2026, 12, 1, 14, 20, 5, tzinfo=UTC)
A = "sentinel.alice.aaaaaaaaaaaaaaaa"
B = "sentinel.bob.bbbbbbbbbbbbbbbb"
C = "sentinel.carol.cccccccccccccccc"


def bucket(sid: str, *identities: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceIdentity": list(identities)}},
    }


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.fixture
def iam(endpoint_url: str) -> Any:
    return iam_client(endpoint_url)


def no_wait(_seconds: float) -> None:
    return None


# -- the document, without IAM ---------------------------------------------------------------


def test_entries_are_grouped_per_revocation_hour_and_sorted() -> None:
    one, _ = merge_document(None, B, now=T0, max_session=timedelta(hours=1))
    two, _ = merge_document(one, A, now=T0 + timedelta(minutes=30), max_session=timedelta(hours=1))
    three, pruned = merge_document(
        two, C, now=T0 + timedelta(hours=1), max_session=timedelta(hours=1)
    )
    assert one == doc(bucket("SentinelRevoked2026120114", B))
    assert two == doc(bucket("SentinelRevoked2026120114", A, B))
    assert three == doc(
        bucket("SentinelRevoked2026120114", A, B), bucket("SentinelRevoked2026120115", C)
    )
    assert pruned == 0


def test_a_bucket_is_pruned_once_its_hour_plus_max_session_duration_has_passed() -> None:
    start, _ = merge_document(None, A, now=T0, max_session=timedelta(hours=2))
    # The 14:00 bucket can hold credentials issued up to 14:59:59, valid for 2 h: kept at 16:59.
    kept, pruned = merge_document(
        start, B, now=datetime(2026, 12, 1, 16, 59, tzinfo=UTC), max_session=timedelta(hours=2)
    )
    assert kept == doc(
        bucket("SentinelRevoked2026120114", A), bucket("SentinelRevoked2026120116", B)
    )
    assert pruned == 0
    later, pruned = merge_document(
        kept, C, now=datetime(2026, 12, 1, 17, 0, tzinfo=UTC), max_session=timedelta(hours=2)
    )
    assert later == doc(
        bucket("SentinelRevoked2026120116", B), bucket("SentinelRevoked2026120117", C)
    )
    assert pruned == 1


def test_statements_sentinel_did_not_write_are_kept() -> None:
    foreign = {"Sid": "KeepMe", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    merged, _ = merge_document(doc(foreign), A, now=T0, max_session=timedelta(hours=1))
    assert merged == doc(foreign, bucket("SentinelRevoked2026120114", A))
    assert revoked_entries(merged) == {"SentinelRevoked2026120114": {A}}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_X_1",
        "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        "arn:aws:iam::123456789012:user/alice",
        "",
    ],
)
def test_roles_iam_cannot_edit_are_refused(arn: str) -> None:
    with pytest.raises(HardRevocationError):
        role_name_from_arn(arn)


def test_role_name_drops_the_path() -> None:
    assert role_name_from_arn("arn:aws:iam::123456789012:role/team/prod-admin") == "prod-admin"


# -- against the sandbox's IAM ---------------------------------------------------------------


def test_hard_revoke_writes_the_exact_policy_and_is_idempotent(iam: Any) -> None:
    role = new_role(iam, max_session=3600)
    first = hard_revoke(iam, role, A, now=T0, settle=0, sleep=no_wait)
    second = hard_revoke(iam, role, B, now=T0 + timedelta(minutes=5), settle=0, sleep=no_wait)
    again = hard_revoke(iam, role, A, now=T0 + timedelta(minutes=6), settle=0, sleep=no_wait)
    assert policy(iam, role) == doc(bucket("SentinelRevoked2026120114", A, B))
    assert (first.outcome, second.outcome, again.outcome) == ("added", "added", "present")
    assert again.entries == 2 and first.policy_name == "SentinelRevokedSessions"
    stored = json.dumps(policy(iam, role), separators=(",", ":"))
    assert second.policy_chars == len(stored)
    names = iam.list_role_policies(RoleName=role.rsplit("/", 1)[-1])["PolicyNames"]
    assert sorted(names) == ["SentinelRevokedSessions", "allow-all"]


def test_every_write_prunes_entries_older_than_the_role_max_session(iam: Any) -> None:
    role = new_role(iam, max_session=3600)
    hard_revoke(iam, role, A, now=T0, settle=0, sleep=no_wait)
    hard_revoke(iam, role, B, now=T0 + timedelta(hours=1), settle=0, sleep=no_wait)
    result = hard_revoke(iam, role, C, now=T0 + timedelta(hours=2), settle=0, sleep=no_wait)
    assert policy(iam, role) == doc(
        bucket("SentinelRevoked2026120115", B), bucket("SentinelRevoked2026120116", C)
    )
    assert result.pruned == 1 and result.entries == 2


def test_a_write_past_the_quota_writes_nothing_and_never_revokes_older_sessions(
    iam: Any,
) -> None:
    role = new_role(iam, max_session=3600)
    hard_revoke(iam, role, A, now=T0, settle=0, sleep=no_wait)
    pad_role(iam, role, room=20)  # adding B to A's statement takes 32 characters
    with pytest.raises(RoleQuotaFull, match="never ends the role's other sessions"):
        hard_revoke(iam, role, B, now=T0 + timedelta(minutes=1), settle=0, sleep=no_wait)
    names = sorted(iam.list_role_policies(RoleName=role.rsplit("/", 1)[-1])["PolicyNames"])
    assert names == ["SentinelRevokedSessions", "allow-all", "padding"]
    assert revoked_entries(policy(iam, role)) == {"SentinelRevoked2026120114": {A}}


def test_revoke_older_sessions_makes_room_only_when_every_entry_is_before_its_bound(
    iam: Any,
) -> None:
    role = new_role(iam, max_session=3600)
    hard_revoke(iam, role, A, now=T0, settle=0, sleep=no_wait)
    pad_role(iam, role, room=20)
    with pytest.raises(RoleQuotaFull, match="leave no room"):
        revoke_older_sessions(iam, role, T0 - timedelta(minutes=1), now=T0)
    result = revoke_older_sessions(iam, role, T0 + timedelta(seconds=30), now=T0)
    assert (result.outcome, result.pruned) == ("added", 1)
    assert policy(iam, role, "AWSRevokeOlderSessions") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-12-01T14:20:35Z"}},
            }
        ],
    }
    names = sorted(iam.list_role_policies(RoleName=role.rsplit("/", 1)[-1])["PolicyNames"])
    # No room for both: the per-session list goes, since the new policy denies all it named.
    assert names == ["AWSRevokeOlderSessions", "allow-all", "padding"]


def test_concurrent_revokes_on_one_role_lose_no_entry(endpoint_url: str, iam: Any) -> None:
    role = new_role(iam, max_session=3600)
    identities = [f"sentinel.user{n}.{n:016x}" for n in range(8)]
    results: dict[str, str] = {}
    barrier = threading.Barrier(len(identities))

    def revoke(identity: str) -> None:
        client = iam_client(endpoint_url)  # one client per thread, as a separate revoker has
        barrier.wait(timeout=30)
        try:
            results[identity] = hard_revoke(
                client, role, identity, now=T0, settle=0.3, max_attempts=10
            ).outcome
        except HardRevocationError as exc:
            results[identity] = str(exc)

    threads = [threading.Thread(target=revoke, args=(i,)) for i in identities]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == dict.fromkeys(identities, "added")
    assert policy(iam, role) == doc(bucket("SentinelRevoked2026120114", *sorted(identities)))


def test_an_unknown_role_is_one_error_naming_it(iam: Any) -> None:
    with pytest.raises(HardRevocationError, match="role no-such-role was not found"):
        hard_revoke(
            iam, "arn:aws:iam::123456789012:role/no-such-role", A, now=T0, settle=0, sleep=no_wait
        )


def test_a_session_without_source_identity_cannot_be_denied_alone(iam: Any) -> None:
    with pytest.raises(HardRevocationError, match="no SourceIdentity"):
        hard_revoke(iam, new_role(iam), "", now=T0, settle=0, sleep=no_wait)


def test_a_record_naming_another_sessions_source_identity_denies_nothing(iam: Any) -> None:
    from sessionhelpers import record

    from sentinelgw.sessions.revocation.revoke import deny_in_iam

    role = new_role(iam)
    # A tampered record: its source_identity belongs to session 00000000000000ff.
    rec = record(1, source_identity="sentinel.bob.00000000000000ff").with_status(
        "revoked", role_arn=role
    )
    outcome = deny_in_iam(iam, rec, now=T0, settle=0, sleep=no_wait)
    assert outcome.iam is None and outcome.iam_error is not None
    assert "does not belong to session 0000000000000001" in str(outcome.iam_error)
    names = iam.list_role_policies(RoleName=role.rsplit("/", 1)[-1])["PolicyNames"]
    assert names == ["allow-all"]


def test_a_value_sts_would_refuse_is_not_written(iam: Any) -> None:
    with pytest.raises(HardRevocationError, match="not a SourceIdentity STS accepts"):
        hard_revoke(iam, new_role(iam), "x" * 5000, now=T0, settle=0, sleep=no_wait)


def test_entries_of_ended_sessions_are_pruned_whatever_their_age() -> None:
    from datetime import UTC, datetime, timedelta

    from sentinelgw.sessions.revocation.deny_document import merge_document, revoked_entries

    now = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    first, _ = merge_document(
        None, "sentinel.a.0000000000000001", now=now, max_session=timedelta(hours=12)
    )
    second, _ = merge_document(
        first, "sentinel.b.0000000000000002", now=now, max_session=timedelta(hours=12)
    )
    asked: list[set[str]] = []

    def ended(entries: set[str]) -> set[str]:
        asked.append(entries)
        return {"sentinel.a.0000000000000001"}

    doc, pruned = merge_document(
        second, "sentinel.c.0000000000000003", now=now, max_session=timedelta(hours=12), ended=ended
    )
    assert pruned == 1
    assert asked == [{"sentinel.a.0000000000000001", "sentinel.b.0000000000000002"}]
    [entries] = revoked_entries(doc).values()
    assert entries == {"sentinel.b.0000000000000002", "sentinel.c.0000000000000003"}
