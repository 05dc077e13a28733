"""Revoking sessions and users: the record, then the IAM deny, then (for a user) the block.

This is what ``sentinel server-revoke`` and the credential service's revoke call both do:

1. the session record moves to ``revoked`` (conditional write), so its server or the service
   refuses every further credential request;
2. unless ``soft``, the session's SourceIdentity is added to the role's
   ``SentinelRevokedSessions`` Deny (:func:`sentinelgw.sessions.revocation.hard_revoke`), so
   credentials it already holds stop working once IAM applies the change.

A failure of step 2 does not undo step 1: the outcome carries the error and the record stays
revoked. Revoking a user puts the block first (when asked), so no new session can start while
the existing ones are being revoked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.errors import HardRevocationError, SentinelError, SessionNotFound
from sentinelgw.sessions.blocks import Block, put_block
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revocation import HardRevokeResult, hard_revoke
from sentinelgw.sessions.store import SessionStore
from sentinelgw.sourceidentity import parse_source_identity

# How long past expires_at a record's credentials are still treated as live (clock skew).
LAPSE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    """One revoked session: the record, and the IAM step's result or error (None if soft)."""

    record: SessionRecord
    soft: bool
    iam: HardRevokeResult | None = None
    iam_error: SentinelError | None = None
    # True when the record's credentials had all expired: no IAM deny was needed.
    lapsed: bool = False

    @property
    def iam_failed(self) -> bool:
        return self.iam_error is not None


@dataclass(frozen=True, slots=True)
class UserRevokeOutcome:
    """Every active session of ``user`` revoked, and the block written (if asked)."""

    user: str
    sessions: tuple[RevokeOutcome, ...]
    block: Block | None = None


def revoke_session(
    store: SessionStore,
    iam: Any,
    session_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    soft: bool = False,
    on_fallback: Callable[[str], bool] | None = None,
    **hard_options: Any,
) -> RevokeOutcome:
    """Revoke one session; raises SessionNotFound if it is unknown or no longer active.

    ``hard_options`` go to :func:`hard_revoke` (``settle``, ``max_attempts``, ...).
    """
    record = store.revoke(session_id, by, reason, now)
    return deny_in_iam(iam, record, now=now, soft=soft, on_fallback=on_fallback, **hard_options)


def deny_in_iam(
    iam: Any,
    record: SessionRecord,
    *,
    now: datetime,
    soft: bool = False,
    on_fallback: Callable[[str], bool] | None = None,
    **hard_options: Any,
) -> RevokeOutcome:
    """Step 2 for a record already revoked; an IAM failure is returned, not raised."""
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
    if record.expires_at + LAPSE_MARGIN < now:
        # Every credential served for the session expires by the record's expires_at (the
        # server moves it on with each refresh), so nothing issued can still be used.
        return RevokeOutcome(record=record, soft=False, lapsed=True)
    try:
        result = hard_revoke(
            iam,
            record.role_arn,
            record.source_identity,
            now=now,
            on_fallback=on_fallback,
            **hard_options,
        )
    except SentinelError as exc:
        return RevokeOutcome(record=record, soft=False, iam_error=exc)
    return RevokeOutcome(record=record, soft=False, iam=result)


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
    on_fallback: Callable[[str], bool] | None = None,
    **hard_options: Any,
) -> UserRevokeOutcome:
    """Block ``user`` (if asked), then revoke every session of theirs still stored active."""
    written = None
    if block:
        written = Block(user=user, blocked_by=by, reason=reason, blocked_at=now, until=block_until)
        put_block(store.client, store.table, written)
    outcomes: list[RevokeOutcome] = []
    active = [r for r in store.query(user=user, now=now) if r.status == "active"]
    for record in active:
        try:
            outcomes.append(
                revoke_session(
                    store,
                    iam,
                    record.id,
                    by=by,
                    reason=reason,
                    now=now,
                    soft=soft,
                    on_fallback=on_fallback,
                    **hard_options,
                )
            )
        except SessionNotFound:
            continue  # ended or revoked by someone else meanwhile
    return UserRevokeOutcome(user=user, sessions=tuple(outcomes), block=written)
