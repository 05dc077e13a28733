"""Revoking sessions and users: the record, then the IAM deny, then (for a user) the block.

This is what ``sentinel server-revoke`` and the credential service's revoke call both do:

1. the session record moves to ``revoked`` (conditional write), so its server or the service
   refuses every further credential request;
2. unless ``soft``, the session's SourceIdentity is added to the role's
   ``SentinelRevokedSessions`` Deny (:func:`sentinelgw.sessions.revocation.hard_revoke`), so
   credentials it already holds stop working once IAM applies the change.

Step 2 never denies more than the sessions asked for: when the role's inline-policy quota is
full (and, for a user, the user's wildcard does not fit either), it fails with
:class:`~sentinelgw.sessions.revocation.RoleQuotaFull` and writes nothing. Every write prunes
the entries of sessions whose credentials have all expired when given ``ended`` (see
:func:`ended_sessions`).

A failure of step 2 does not undo step 1: the outcome carries the error and the record stays
revoked. Revoking a user puts the block first (when asked), so no new session can start while
the existing ones are being revoked; a user's sessions are revoked together (the table in
parallel, then one IAM write per role): see :func:`revoke_user`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.errors import HardRevocationError, SentinelError, SessionNotFound
from sentinelgw.sessions.blocks import Block, put_block
from sentinelgw.sessions.model import CLOCK_SKEW, SessionRecord
from sentinelgw.sessions.revocation.role_deny import (
    HardRevokeResult,
    hard_revoke,
    hard_revoke_many,
    role_name_from_arn,
)
from sentinelgw.sessions.store import SessionStore
from sentinelgw.sourceidentity import parse_source_identity

# How long past its last credential expiry a record's credentials are still treated as live.
LAPSE_MARGIN = CLOCK_SKEW
# Records revoked at once by a user's revocation (DynamoDB calls in flight; boto3's connection
# pool holds 10 by default).
TABLE_WORKERS = 10
# A blocked user's wildcard denies credentials issued up to this long after the block: the
# clocks of the revoker and of AWS may differ, and a local session that read no block may
# still be getting its first credentials. Lifting the block sooner leaves the user's new
# sessions denied on those roles until then.
BLOCK_MARGIN = timedelta(minutes=1)
# A blocked user's wildcard goes on the roles of their sessions started this recently (the
# longest session Sentinel serves).
WILDCARD_LOOKBACK = timedelta(hours=12)
# How long past its session's recorded end a credential may still work, when pruning entries
# of ended sessions: served credentials last at least 15 minutes (STS's minimum), so they can
# outlast the session by that much; plus clock skew.
CREDENTIALS_OUTLAST = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    """One revoked session: the record, and the IAM step's result or error (None if soft)."""

    record: SessionRecord
    soft: bool
    iam: HardRevokeResult | None = None
    iam_error: SentinelError | None = None
    # True when the record's credentials had all expired: no IAM deny was needed.
    lapsed: bool = False
    # True when the session had ended (stored expired) but a credential it issued may still
    # have been valid when it was revoked.
    ended_early: bool = False

    @property
    def iam_failed(self) -> bool:
        return self.iam_error is not None


@dataclass(frozen=True, slots=True)
class RoleOutcome:
    """The one IAM write a user's revocation made on a role (``sessions`` of theirs there;
    0 for a role that only got a blocked user's wildcard)."""

    role_arn: str
    sessions: int
    result: HardRevokeResult | None = None
    error: SentinelError | None = None


@dataclass(frozen=True, slots=True)
class UserRevokeOutcome:
    """Every active session of ``user`` revoked, and the block written (if asked)."""

    user: str
    sessions: tuple[RevokeOutcome, ...]
    block: Block | None = None
    roles: tuple[RoleOutcome, ...] = ()
    # Records whose revocation failed in the table (throttling, permissions): the others were
    # revoked and denied all the same.
    table_errors: tuple[SentinelError, ...] = ()


def revoke_session(
    store: SessionStore,
    iam: Any,
    session_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    soft: bool = False,
    **hard_options: Any,
) -> RevokeOutcome:
    """Revoke one session; raises SessionNotFound if it is unknown or no longer active.

    ``hard_options`` go to :func:`hard_revoke` (``settle``, ``max_attempts``, ...).
    """
    record = store.revoke(session_id, by, reason, now)
    return deny_in_iam(iam, record, now=now, soft=soft, **hard_options)


def deny_in_iam(
    iam: Any,
    record: SessionRecord,
    *,
    now: datetime,
    soft: bool = False,
    **hard_options: Any,
) -> RevokeOutcome:
    """Step 2 for a record already revoked; an IAM failure is returned, not raised."""
    early = _precheck(record, now=now, soft=soft)
    if early is not None:
        return early
    try:
        result = hard_revoke(
            iam,
            record.role_arn,
            record.source_identity,
            now=now,
            **hard_options,
        )
    except SentinelError as exc:
        return RevokeOutcome(record=record, soft=False, iam_error=exc)
    return RevokeOutcome(record=record, soft=False, iam=result)


def _precheck(record: SessionRecord, *, now: datetime, soft: bool) -> RevokeOutcome | None:
    """The outcome when no IAM write is needed or allowed for ``record``, else None."""
    if soft:
        return RevokeOutcome(record=record, soft=True)
    parsed = parse_source_identity(record.source_identity)
    if record.source_identity and (parsed is None or parsed.id != record.id):
        # Record fields are untrusted: never deny a SourceIdentity of another session.
        error = HardRevocationError(
            f"the record's source_identity {record.source_identity[:80]!r} does not belong to "
            f"session {record.id}, so it was not denied",
            hint="The record may have been altered; check it with 'sentinel server-session'",
        )
        return RevokeOutcome(record=record, soft=False, iam_error=error)
    if not record.credentials_may_be_live(now):
        # Every credential issued for the session expired by credentials_end() (the server
        # records the latest STS expiry it received), so nothing issued can still be used.
        return RevokeOutcome(record=record, soft=False, lapsed=True)
    if not record.source_identity:
        return RevokeOutcome(
            record=record,
            soft=False,
            iam_error=HardRevocationError(
                "the session has no SourceIdentity, so IAM cannot deny it alone",
                hint="Only role sessions created by Sentinel can be revoked through IAM",
            ),
        )
    return None


def revoke_user(
    store: SessionStore,
    iam: Any,
    user: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    block: bool = False,
    block_until: datetime | None = None,
    soft: bool = False,
    workers: int = TABLE_WORKERS,
    **hard_options: Any,
) -> UserRevokeOutcome:
    """Block ``user`` (if asked), then revoke every session of theirs that may still hold
    live credentials, fast:

    1. the block is written first (no new session from here on);
    2. every session record found in the user index is revoked, in parallel (``workers``);
    3. one IAM write per role holds all the user's SourceIdentities on it
       (:func:`~sentinelgw.sessions.revocation.hard_revoke_many`), the roles in parallel.
       For a blocked user, and wherever the entries would pass the quota, that write is the
       user's wildcard: every credential of the user issued before the block (plus
       :data:`BLOCK_MARGIN`) is denied, including a session the index did not show yet;
    4. the user index is read once more, and sessions that appeared meanwhile (the index is
       updated eventually) go through steps 2 and 3.
    """
    written = None
    before: datetime | None = None
    if block:
        written = Block(user=user, blocked_by=by, reason=reason, blocked_at=now, until=block_until)
        put_block(store.client, store.table, written)
        # Credentials issued before this bound are denied by the wildcard; a session that
        # started before the block was seen has its credentials issued before the block was
        # written (the service re-reads it after AssumeRole), so within the bound.
        before = now + BLOCK_MARGIN
    done: set[str] = set()
    outcomes: list[RevokeOutcome] = []
    roles: dict[str, RoleOutcome] = {}
    table_errors: list[SentinelError] = []
    for _round in range(2):
        listed = list(store.query(user=user, now=now))
        found = [r for r in listed if r.id not in done and _revocable(r, now)]
        recent = _recent_roles(listed, now, roles) if before is not None and not soft else set()
        if not found and not recent and _round:
            break
        done.update(r.id for r in found)
        ended_early = {r.id for r in found if r.status != "active"}
        revoked, errors = _revoke_records(
            store, found, by=by, reason=reason, now=now, workers=workers
        )
        table_errors += errors
        session_outcomes, role_outcomes = _deny_many(
            iam,
            revoked,
            now=now,
            soft=soft,
            before=before,
            workers=workers,
            ended_early=ended_early,
            extra_roles=recent,
            **hard_options,
        )
        outcomes += session_outcomes
        roles.update((o.role_arn, o) for o in role_outcomes)
    return UserRevokeOutcome(
        user=user,
        sessions=tuple(outcomes),
        block=written,
        roles=tuple(roles.values()),
        table_errors=tuple(table_errors),
    )


def _recent_roles(
    listed: list[SessionRecord], now: datetime, seen: dict[str, RoleOutcome]
) -> set[tuple[str, str]]:
    """A blocked user's wildcard also goes on every role of their recent sessions, ended or
    revoked: a new session there that the index does not show yet is covered too."""
    return {
        key
        for r in listed
        if r.started_at >= now - WILDCARD_LOOKBACK
        and (key := role_key(r)) is not None
        and key[0] not in seen
    }


def role_key(record: SessionRecord) -> tuple[str, str] | None:
    """(role ARN, user part of the SourceIdentity) of a record Sentinel could deny."""
    parsed = parse_source_identity(record.source_identity)
    if parsed is None or parsed.id != record.id or not record.role_arn:
        return None
    return record.role_arn, parsed.user


def _revocable(record: SessionRecord, now: datetime) -> bool:
    """Active, or ended with credentials that may still be valid (and never revoked)."""
    if record.revoked_at is not None:
        return False
    return record.status == "active" or (
        record.status in ("expired", "ended") and record.credentials_may_be_live(now)
    )


def _revoke_records(
    store: SessionStore,
    records: list[SessionRecord],
    *,
    by: str,
    reason: str,
    now: datetime,
    workers: int,
) -> tuple[list[SessionRecord], list[SentinelError]]:
    """The table step for many sessions at once: (revoked records, table errors). Those ended
    or revoked meanwhile are left out; an error on one record does not stop the others."""
    from concurrent.futures import ThreadPoolExecutor

    def one(record: SessionRecord) -> SessionRecord | SentinelError | None:
        try:
            return store.revoke(record.id, by, reason, now)
        except SessionNotFound:
            return None  # ended or revoked by someone else meanwhile
        except SentinelError as exc:
            return exc

    if not records:
        return [], []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(records)))) as pool:
        results = list(pool.map(one, records))
    errors = [r for r in results if isinstance(r, SentinelError)]
    return [r for r in results if isinstance(r, SessionRecord)], errors


def _deny_many(
    iam: Any,
    records: list[SessionRecord],
    *,
    now: datetime,
    soft: bool,
    before: datetime | None,
    workers: int,
    ended_early: set[str],
    extra_roles: set[tuple[str, str]],
    **hard_options: Any,
) -> tuple[list[RevokeOutcome], list[RoleOutcome]]:
    """The IAM step for many revoked sessions: one write per role, roles in parallel.

    ``extra_roles`` (role ARN, user part) get the user's wildcard even without a session to
    revoke there (only with ``before``). Returns the sessions' outcomes and one per role."""
    from concurrent.futures import ThreadPoolExecutor

    outcomes: dict[str, RevokeOutcome] = {}
    by_role: dict[tuple[str, str], list[SessionRecord]] = {}
    for record in records:
        early = _precheck(record, now=now, soft=soft)
        if early is not None:
            outcomes[record.id] = early
            continue
        key = role_key(record)
        if key is None:  # no role ARN: nothing IAM could deny
            try:
                role_name_from_arn(record.role_arn)
            except HardRevocationError as exc:
                outcomes[record.id] = RevokeOutcome(record=record, soft=False, iam_error=exc)
                continue
            raise AssertionError(f"session {record.id} has a role but no key")
        by_role.setdefault(key, []).append(record)

    if before is not None:
        for key in extra_roles:
            by_role.setdefault(key, [])
    role_outcomes: list[RoleOutcome] = []

    def role_step(key: tuple[str, str]) -> list[RevokeOutcome]:
        role_arn, user_part = key
        group = by_role[key]
        try:
            result = hard_revoke_many(
                iam,
                role_arn,
                [r.source_identity for r in group],
                now=now,
                user=user_part,
                wildcard="always" if before is not None else "quota",
                before=before,
                **hard_options,
            )
        except SentinelError as exc:
            role_outcomes.append(RoleOutcome(role_arn=role_arn, sessions=len(group), error=exc))
            return [RevokeOutcome(record=r, soft=False, iam_error=exc) for r in group]
        role_outcomes.append(RoleOutcome(role_arn=role_arn, sessions=len(group), result=result))
        return [
            RevokeOutcome(
                record=r, soft=False, iam=replace(result, source_identity=r.source_identity)
            )
            for r in group
        ]

    if by_role:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_role)))) as pool:
            for group_outcomes in pool.map(role_step, list(by_role)):
                outcomes.update((o.record.id, o) for o in group_outcomes)
    sessions = [replace(outcomes[r.id], ended_early=r.id in ended_early) for r in records]
    return sessions, sorted(role_outcomes, key=lambda o: o.role_arn)


def ended_sessions(store: SessionStore, now: datetime) -> Callable[[set[str]], set[str]]:
    """``ended`` for the IAM writes: the entries (SourceIdentities) whose sessions'
    credentials have all expired, judged from the session table's records.

    An entry counts only when its record is found and names that very SourceIdentity, and the
    record's last credential expiry (:meth:`SessionRecord.credentials_end`) plus
    :data:`CREDENTIALS_OUTLAST` has passed; a missing record or a table error keeps the entry
    (denying too long is the safe side).
    """

    def ended(identities: set[str]) -> set[str]:
        ids = {}
        for value in identities:
            parsed = parse_source_identity(value)
            if parsed is not None:
                ids[parsed.id] = value
        try:
            records = store.batch_get(ids)
        except Exception:
            return set()
        return {
            value
            for ident, value in ids.items()
            if (rec := records.get(ident)) is not None
            and rec.source_identity == value
            and rec.credentials_end() + CREDENTIALS_OUTLAST < now
        }

    return ended
