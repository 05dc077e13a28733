"""Hard revocation: an IAM Deny that reaches credentials a revoked session already holds.

IAM evaluates the role's permission policies on every request, including requests signed with
temporary credentials issued before the policy changed, and every Sentinel role session carries
its own SourceIdentity (``aws:SourceIdentity`` on each request it makes). A Deny conditioned on
that value therefore cuts off exactly one session. AWS documents that such a change takes from
seconds to a few minutes to apply everywhere.

The policy document (one Deny statement per revocation hour, pruning, the size quota and AWS's
``AWSRevokeOlderSessions`` document) is described in
:mod:`sentinelgw.sessions.revocation.deny_document`.

A full quota never makes Sentinel end the role's other sessions on its own: the revoke fails
with :class:`RoleQuotaFull`, which names the role and the fix. Ending every session of a role
issued before a time is a separate, explicit step, :func:`revoke_older_sessions` (``sentinel
server-revoke --all-before``).

Concurrency: IAM has no conditional write. Each attempt reads the current document, merges the
new entry, prunes, writes, waits ``settle`` seconds (with jitter) and reads again; if a
concurrent writer dropped the entry, the attempt repeats, up to ``max_attempts`` times with
jittered backoff. Every writer merges what it read, so an entry can only be lost to a writer
whose read and write straddle the whole settle wait; repeating the revoke is always safe
(an entry already present is not written again).

Permissions the revoker needs on the role: ``iam:GetRole``, ``iam:ListRolePolicies``,
``iam:GetRolePolicy`` and ``iam:PutRolePolicy`` (the calls: :mod:`.revocation_iam`).
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sentinelgw.errors import HardRevocationError
from sentinelgw.sessions.revocation import role_iam as iam_calls
from sentinelgw.sessions.revocation.deny_document import (
    FALLBACK_POLICY_NAME,
    POLICY_NAME,
    QUOTA_CHARS,
    compact,
    denies_user,
    document_size,
    fallback_document,
    issue_time_bound,
    merge_document,
    revoked_entries,
    user_pattern,
)
from sentinelgw.sourceidentity import is_valid_sts_value

Outcome = Literal["added", "present"]
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$")


class RoleQuotaFull(HardRevocationError):
    """The entries do not fit the role's inline-policy quota, even with user wildcards and after
    pruning; nothing was written. ``role_arn`` names the role. Exit 1: a gap is left (the
    session stays undenied by IAM), not an infrastructure failure."""

    exit_code = 1

    def __init__(self, message: str, *, role_arn: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.role_arn = role_arn


@dataclass(frozen=True, slots=True)
class HardRevokeResult:
    """What the IAM step did.

    ``outcome`` is ``added`` (the entry was written) or ``present`` (it was already there;
    nothing written). :func:`revoke_older_sessions` reports on ``AWSRevokeOlderSessions`` in
    ``policy_name``, with its bound in ``wildcard_before``.
    """

    role_arn: str
    role_name: str
    source_identity: str
    policy_name: str
    outcome: Outcome
    entries: int
    pruned: int
    policy_chars: int
    role_policy_chars: int
    attempts: int
    # hard_revoke_many: every SourceIdentity written (or found) in this one write, and the
    # user wildcard if one was written (with the time it bounds aws:TokenIssueTime by).
    source_identities: tuple[str, ...] = ()
    wildcard: str | None = None
    wildcard_before: datetime | None = None


def role_name_from_arn(role_arn: str) -> str:
    """The role name (last path segment) of an IAM role ARN; refuses roles IAM will not edit."""
    m = _ROLE_ARN.match(role_arn or "")
    if not m:
        raise HardRevocationError(
            f"cannot revoke through IAM: {role_arn!r} is not an IAM role ARN",
            hint="Only sessions of IAM roles can be denied; the record is revoked",
        )
    if "/aws-reserved/sso.amazonaws.com/" in role_arn:
        raise HardRevocationError(
            f"IAM Identity Center role {role_arn} cannot be edited in IAM",
            hint="Revoke the user's sessions through IAM Identity Center",
        )
    if "/aws-service-role/" in role_arn:
        raise HardRevocationError(f"service-linked role {role_arn} cannot hold inline policies")
    return m.group(1)


def hard_revoke(
    iam: Any,
    role_arn: str,
    source_identity: str,
    *,
    now: datetime,
    ended: Callable[[set[str]], set[str]] | None = None,
    max_attempts: int = 5,
    settle: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> HardRevokeResult:
    """Deny ``source_identity`` on ``role_arn`` through ``SentinelRevokedSessions``.

    ``iam`` is a boto3 IAM client with the revoker's (or the service's) credentials. ``now`` is
    the revocation time. ``ended`` names entries whose sessions' credentials have all expired,
    pruned on this write (:func:`~sentinelgw.sessions.revocation.deny_document.merge_document`).
    Raises :class:`HardRevocationError` naming the missing permission when IAM refuses a call,
    and :class:`RoleQuotaFull` (nothing written) when the entry does not fit the quota.
    """
    if not source_identity:
        raise HardRevocationError(
            "the session has no SourceIdentity, so IAM cannot deny it alone",
            hint="Only role sessions created by Sentinel can be revoked through IAM",
        )
    if not is_valid_sts_value(source_identity):
        raise HardRevocationError(
            f"{source_identity[:80]!r} is not a SourceIdentity STS accepts, so no session has it",
            hint="Check the session record's source_identity",
        )
    role = _Role(role_arn, role_name_from_arn(role_arn))
    max_session = timedelta(seconds=iam_calls.max_session_seconds(iam, role.name))
    for attempt in range(1, max(1, max_attempts) + 1):
        current = iam_calls.get_policy(iam, role.name, POLICY_NAME)
        if any(source_identity in ids for ids in revoked_entries(current).values()):
            write = _Write(outcome="present", document=current, pruned=0, attempt=attempt)
            return _result(iam, role, source_identity, write)
        document, pruned = merge_document(
            current, source_identity, now=now, max_session=max_session, ended=ended
        )
        others = iam_calls.other_policy_chars(iam, role.name, POLICY_NAME)
        if others + len(compact(document)) > QUOTA_CHARS:
            raise _quota_full(role_arn, source_identity, others + len(compact(document)))
        check = write_and_read(iam, role.name, document, settle, jitter, sleep)
        if any(source_identity in ids for ids in revoked_entries(check).values()):
            write = _Write(outcome="added", document=check, pruned=pruned, attempt=attempt)
            return _result(iam, role, source_identity, write, others=others)
        back_off(attempt, sleep, jitter)
    raise HardRevocationError(
        f"policy {POLICY_NAME} on role {role_arn} kept changing under concurrent writes; "
        f"{source_identity} is not in it after {max_attempts} attempts",
        hint="Run the revoke again; it is safe to repeat",
    )


def back_off(attempt: int, sleep: Callable[[float], None], jitter: Callable[[], float]) -> None:
    """Wait before the next read-merge-write after ``attempt`` lost to a concurrent writer."""
    sleep(min(0.2 * 2 ** (attempt - 1), 2.0) * (0.5 + jitter()))


def write_and_read(
    iam: Any,
    role_name: str,
    document: dict[str, Any],
    settle: float,
    jitter: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """Write the deny document, let IAM settle, and read back what is there now (another
    writer may have replaced it meanwhile: the callers check their entries are in it)."""
    iam_calls.put_policy(iam, role_name, POLICY_NAME, document)
    sleep(settle * (1 + jitter() / 2))
    return iam_calls.get_policy(iam, role_name, POLICY_NAME)


@dataclass(frozen=True, slots=True)
class _Many:
    """What one :func:`hard_revoke_many` writes: the entries, and the user wildcard that may
    replace them (``pattern``, denying what was issued before ``bound``)."""

    wanted: list[str]
    pattern: str | None
    bound: datetime
    always_wildcard: bool


def hard_revoke_many(
    iam: Any,
    role_arn: str,
    source_identities: Sequence[str],
    *,
    now: datetime,
    user: str | None = None,
    wildcard: str = "quota",
    before: datetime | None = None,
    ended: Callable[[set[str]], set[str]] | None = None,
    max_attempts: int = 5,
    settle: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> HardRevokeResult:
    """Deny several SourceIdentities of one user on ``role_arn`` in ONE read-merge-write.

    ``user`` is the user part of the SourceIdentities (``sentinel.<user>.<id>``). ``wildcard``:
    ``"quota"`` writes one entry per SourceIdentity and, only when they do not fit the quota,
    the user's wildcard instead (every credential of the user issued before ``now``);
    ``"always"`` writes the wildcard with the bound ``before`` (default ``now``) whatever the
    size, which also denies sessions the caller did not find; ``"never"`` writes entries only.
    When even that does not fit, :class:`RoleQuotaFull` is raised and nothing is written (never
    a role-wide deny). ``ended`` prunes as in :func:`hard_revoke`. Same concurrency rules and
    errors as :func:`hard_revoke`.
    """
    many = _plan_many(source_identities, user=user, wildcard=wildcard, bound=before or now)
    role = _Role(role_arn, role_name_from_arn(role_arn))
    max_session = timedelta(seconds=iam_calls.max_session_seconds(iam, role.name))
    for attempt in range(1, max(1, max_attempts) + 1):
        current = iam_calls.get_policy(iam, role.name, POLICY_NAME)
        use_wildcard = many.always_wildcard
        if _all_denied(current, many.wanted, many.pattern if use_wildcard else None, many.bound):
            write = _Write(outcome="present", document=current, pruned=0, attempt=attempt)
            return _many_result(iam, role, many, write, use_wildcard=use_wildcard)
        merge = functools.partial(
            _merge, many, current, now=now, max_session=max_session, ended=ended
        )
        document, pruned = merge(use_wildcard)
        others = iam_calls.other_policy_chars(iam, role.name, POLICY_NAME)
        if others + len(compact(document)) > QUOTA_CHARS and many.pattern and not use_wildcard:
            use_wildcard = True
            document, pruned = merge(True)
        if others + len(compact(document)) > QUOTA_CHARS:
            raise _quota_full(role_arn, _quota_what(many), others + len(compact(document)))
        check = write_and_read(iam, role.name, document, settle, jitter, sleep)
        if _all_denied(check, many.wanted, many.pattern if use_wildcard else None, many.bound):
            write = _Write(outcome="added", document=check, pruned=pruned, attempt=attempt)
            return _many_result(iam, role, many, write, use_wildcard=use_wildcard)
        back_off(attempt, sleep, jitter)
    raise HardRevocationError(
        f"policy {POLICY_NAME} on role {role_arn} kept changing under concurrent writes; "
        f"the {len(many.wanted)} SourceIdentities are not all in it after {max_attempts} attempts",
        hint="Run the revoke again; it is safe to repeat",
    )


def _plan_many(
    source_identities: Sequence[str], *, user: str | None, wildcard: str, bound: datetime
) -> _Many:
    """Check the SourceIdentities and settle the wildcard and its bound."""
    wanted = sorted(set(source_identities))
    for ident in wanted:
        if not ident or not is_valid_sts_value(ident):
            raise HardRevocationError(
                f"{ident[:80]!r} is not a SourceIdentity STS accepts, so no session has it",
                hint="Check the session records' source_identity",
            )
    pattern = user_pattern(user) if user is not None and wildcard != "never" else None
    if pattern is None and wildcard == "always":
        raise HardRevocationError("a user wildcard needs the user's name")
    # The bound is kept to the second (in the Sid and the condition): rounded up, so that a
    # credential issued in the same second as the revocation is still before it.
    if bound.microsecond:
        bound = bound.replace(microsecond=0) + timedelta(seconds=1)
    return _Many(wanted, pattern, bound, always_wildcard=wildcard == "always")


def _merge(
    many: _Many,
    current: dict[str, Any] | None,
    use_wildcard: bool,
    *,
    now: datetime,
    max_session: timedelta,
    ended: Callable[[set[str]], set[str]] | None,
) -> tuple[dict[str, Any], int]:
    return merge_document(
        current,
        many.wanted,
        now=now,
        max_session=max_session,
        ended=ended,
        user_patterns=[many.pattern] if use_wildcard and many.pattern else [],
        before=many.bound,
    )


def _quota_what(many: _Many) -> str:
    """What did not fit, for :class:`RoleQuotaFull`'s message."""
    what = many.wanted[0] if len(many.wanted) == 1 else f"the {len(many.wanted)} SourceIdentities"
    if many.pattern:
        what += f" (even as user wildcard {many.pattern})"
    return what


def _all_denied(
    document: dict[str, Any] | None, wanted: list[str], pattern: str | None, bound: datetime
) -> bool:
    if pattern is not None:
        return denies_user(document, pattern, bound)
    entries = revoked_entries(document).values()
    return all(any(ident in ids for ids in entries) for ident in wanted)


def _many_result(
    iam: Any, role: _Role, many: _Many, write: _Write, *, use_wildcard: bool
) -> HardRevokeResult:
    result = _result(iam, role, many.wanted[0] if many.wanted else "", write)
    if not use_wildcard:
        return replace(result, source_identities=tuple(many.wanted))
    return replace(
        result,
        source_identities=tuple(many.wanted),
        wildcard=many.pattern,
        wildcard_before=many.bound,
    )


def _quota_full(role_arn: str, what: str, chars: int) -> RoleQuotaFull:
    return RoleQuotaFull(
        f"policy {POLICY_NAME} on role {role_arn} is full: adding {what} would pass the "
        f"{QUOTA_CHARS}-character quota on the role's inline policies ({chars} characters), "
        "and Sentinel never ends the role's other sessions on its own; nothing was written",
        role_arn=role_arn,
        hint=f"An admin can end every session of the role with: sentinel server-revoke "
        f"--all-before now --role {role_arn} --reason TEXT (or move the role's other inline "
        "policies to managed policies)",
    )


def revoke_older_sessions(
    iam: Any, role_arn: str, before: datetime, *, now: datetime
) -> HardRevokeResult:
    """Write AWS's ``AWSRevokeOlderSessions`` on ``role_arn``: deny every credential of the
    role issued before ``before`` (to the second, rounded up), whoever holds it.

    This ends every session of the role, so only an admin's explicit ``server-revoke
    --all-before`` calls it. A policy already there with a bound at or after ``before`` is
    kept (``present``; the deny never shrinks). When the role's other inline policies leave no
    room and ``before`` is not earlier than ``now``, ``SentinelRevokedSessions`` is removed
    first (its entry count is in ``pruned``): every entry in it was revoked, so issued, before
    ``now``. Otherwise :class:`RoleQuotaFull`.
    """
    name = role_name_from_arn(role_arn)
    bound = before.astimezone(UTC)
    if bound.microsecond:
        bound = bound.replace(microsecond=0) + timedelta(seconds=1)
    current = iam_calls.get_policy(iam, name, FALLBACK_POLICY_NAME)
    held = issue_time_bound(current)
    others = iam_calls.other_policy_chars(iam, name, FALLBACK_POLICY_NAME)
    if held is not None and held >= bound:
        return _older_result(role_arn, name, "present", current, others, held)
    doc = fallback_document(bound)
    if others + len(compact(doc)) > QUOTA_CHARS:
        listed = iam_calls.get_policy(iam, name, POLICY_NAME)
        freed = document_size(listed)
        if listed is None or bound < now or others - freed + len(compact(doc)) > QUOTA_CHARS:
            raise RoleQuotaFull(
                f"the inline policies of role {role_arn} leave no room for "
                f"{FALLBACK_POLICY_NAME} ({others} of {QUOTA_CHARS} characters)",
                role_arn=role_arn,
                hint="Move inline policies of the role to managed policies, then run it again",
            )
        iam_calls.delete_policy(iam, name, POLICY_NAME)
        others -= freed
        removed = sum(len(v) for v in revoked_entries(listed).values())
    else:
        removed = 0
    iam_calls.put_policy(iam, name, FALLBACK_POLICY_NAME, doc)
    return replace(_older_result(role_arn, name, "added", doc, others, bound), pruned=removed)


def _older_result(
    role_arn: str,
    name: str,
    outcome: Outcome,
    document: dict[str, Any] | None,
    others: int,
    bound: datetime,
) -> HardRevokeResult:
    return HardRevokeResult(
        role_arn=role_arn,
        role_name=name,
        source_identity="",
        policy_name=FALLBACK_POLICY_NAME,
        outcome=outcome,
        entries=0,
        pruned=0,
        policy_chars=document_size(document),
        role_policy_chars=others + document_size(document),
        attempts=1,
        wildcard_before=bound,
    )


@dataclass(frozen=True, slots=True)
class _Role:
    arn: str
    name: str


@dataclass(frozen=True, slots=True)
class _Write:
    """One read-merge-write's end: what the policy held when the entry was found in it."""

    outcome: Outcome
    document: dict[str, Any] | None
    pruned: int
    attempt: int


def _result(
    iam: Any, role: _Role, source_identity: str, write: _Write, *, others: int | None = None
) -> HardRevokeResult:
    """The result of a write; ``others`` is the size of the role's other inline policies when
    already read (else it is read now)."""
    if others is None:
        others = iam_calls.other_policy_chars(iam, role.name, POLICY_NAME)
    return HardRevokeResult(
        role_arn=role.arn,
        role_name=role.name,
        source_identity=source_identity,
        policy_name=POLICY_NAME,
        outcome=write.outcome,
        entries=sum(len(v) for v in revoked_entries(write.document).values()),
        pruned=write.pruned,
        policy_chars=document_size(write.document),
        role_policy_chars=others + document_size(write.document),
        attempts=write.attempt,
    )
