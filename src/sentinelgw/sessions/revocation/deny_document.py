"""The ``SentinelRevokedSessions`` document: format, merge, pruning and size (no I/O).

The policy
----------
Sentinel keeps one inline policy, ``SentinelRevokedSessions``, on each role it revokes sessions
of. Its entries are grouped in one statement per UTC hour of revocation; the hour is in the
statement's ``Sid``, so the revocation time of every entry survives any round trip through IAM
and the document stays plain IAM JSON::

    {"Version": "2012-10-17",
     "Statement": [
       {"Sid": "SentinelRevoked2026120114",          # revoked 2026-12-01, 14:00-14:59 UTC
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceIdentity": ["sentinel.alice.3f9a...", ...]}}}]}

Pruning: credentials of a revoked session were issued before its revocation and last at most
the role's ``MaxSessionDuration``, so a bucket whose hour ended more than ``MaxSessionDuration``
ago denies nothing that still works. Every write drops such buckets, and, when the writer can
tell (the credential service reads its session records), every entry of a session whose
credentials have all expired. Statements whose ``Sid`` Sentinel did not write are kept as they
are.

User wildcards: revoking every session of a user may write, instead of one entry per session,
one statement ``SentinelRevokedBefore<YYYYmmddHHMMSS>`` with ``StringLike aws:SourceIdentity
sentinel.<user>.????????????????`` and ``DateLessThan aws:TokenIssueTime <that time>``: every
credential of the user issued before the time is denied, later ones are not, so lifting a
block lets the user work again at once. It is pruned once the time plus
``MaxSessionDuration`` has passed.

Size: a role's inline policies may total 10,240 characters (IAM does not count white space).
Sentinel counts the role's other inline policies (ListRolePolicies, GetRolePolicy) and writes
compact JSON. When the new document would pass the quota even with user wildcards and after
pruning, the revoke writes nothing and says so: it never falls back on its own to AWS's
``AWSRevokeOlderSessions`` policy (Deny everything with ``DateLessThan aws:TokenIssueTime
<time>``), which ends every session of the role issued before the time; that is an admin's
explicit ``sentinel server-revoke --all-before``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

POLICY_NAME = "SentinelRevokedSessions"
FALLBACK_POLICY_NAME = "AWSRevokeOlderSessions"
QUOTA_CHARS = 10_240  # aggregate size of a role's inline policies, white space not counted
SID_PREFIX = "SentinelRevoked"
_SID = re.compile(r"^SentinelRevoked(\d{10})$")
_SID_FORMAT = "%Y%m%d%H"
_CONDITION_KEY = "aws:SourceIdentity"
# A user's wildcard: every SourceIdentity of the user on credentials issued before a time,
# written when a user's revocation does not fit the quota with one entry per session, and for
# a blocked user. The bound is in the Sid, to the second.
WILDCARD_PREFIX = "SentinelRevokedBefore"
_WILDCARD_SID = re.compile(r"^SentinelRevokedBefore(\d{14})$")
_WILDCARD_FORMAT = "%Y%m%d%H%M%S"
_USER_PART = re.compile(r"^[\w+=,.@-]+$", re.ASCII)


def bucket_sid(at: datetime) -> str:
    """The ``Sid`` of the statement holding entries revoked in ``at``'s UTC hour."""
    return SID_PREFIX + at.astimezone(UTC).strftime(_SID_FORMAT)


def bucket_start(sid: str) -> datetime | None:
    m = _SID.match(sid)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), _SID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def compact(document: dict[str, Any]) -> str:
    """The document as IAM counts it: JSON without white space between tokens."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def revoked_entries(document: dict[str, Any] | None) -> dict[str, set[str]]:
    """Sentinel's buckets in a ``SentinelRevokedSessions`` document: Sid -> SourceIdentities."""
    out: dict[str, set[str]] = {}
    for stmt in _statements(document):
        sid = stmt.get("Sid")
        if isinstance(sid, str) and bucket_start(sid) is not None:
            out.setdefault(sid, set()).update(_identities(stmt))
    return out


def merge_document(
    document: dict[str, Any] | None,
    source_identity: str | Iterable[str],
    *,
    now: datetime,
    max_session: timedelta,
    ended: Callable[[set[str]], set[str]] | None = None,
    user_patterns: Iterable[str] = (),
    before: datetime | None = None,
) -> tuple[dict[str, Any], int]:
    """The document with the SourceIdentities added in ``now``'s bucket and stale buckets
    pruned; with ``user_patterns`` (see :func:`user_pattern`), also a wildcard statement
    denying those users' credentials issued before ``before`` (default ``now``).

    ``ended`` is given the entries left after pruning by age and returns those whose sessions'
    credentials have all expired; they are dropped too. A wildcard covers every entry of the
    same user already in a bucket (each was revoked, so issued, before ``now``), so those entries
    are dropped and the identities it matches are not added. Returns (new document, number of
    entries pruned). Foreign statements are kept in place at the front; buckets follow in Sid
    order, then wildcards, entries sorted, so the result is deterministic.
    """
    identities = {source_identity} if isinstance(source_identity, str) else set(source_identity)
    patterns = set(user_patterns)
    buckets = revoked_entries(document)
    wildcards = wildcard_entries(document)
    foreign = [s for s in _statements(document) if not _is_bucket(s) and not _is_wildcard(s)]
    pruned = 0
    for sid in list(buckets):
        start = bucket_start(sid)
        assert start is not None
        if start + timedelta(hours=1) + max_session <= now:
            pruned += len(buckets.pop(sid))
    present = set().union(*buckets.values()) - identities
    gone = ended(present) & present if ended is not None and present else set()
    for sid in list(buckets):
        pruned += len(buckets[sid] & gone)
        buckets[sid] -= gone
        if not buckets[sid]:
            del buckets[sid]
    for sid in list(wildcards):
        stamp = wildcard_before(sid)
        assert stamp is not None
        if stamp + max_session <= now:
            pruned += len(wildcards.pop(sid))
    if patterns:
        wildcards.setdefault(wildcard_sid(before or now), set()).update(patterns)
        for sid in list(buckets):
            buckets[sid] = {i for i in buckets[sid] if not _matches_any(i, patterns)}
            if not buckets[sid]:
                del buckets[sid]
        identities = {i for i in identities if not _matches_any(i, patterns)}
    for ident in sorted(identities):
        if not any(ident in ids for ids in buckets.values()):
            buckets.setdefault(bucket_sid(now), set()).add(ident)
    statements = foreign + [deny_statement(sid, buckets[sid]) for sid in sorted(buckets)]
    statements += [wildcard_statement(sid, wildcards[sid]) for sid in sorted(wildcards)]
    return {"Version": "2012-10-17", "Statement": statements}, pruned


def user_pattern(user_part: str) -> str:
    """The ``StringLike`` value matching every SourceIdentity of one user: ``sentinel.<user>.``
    and exactly 16 characters (the session id), so user ``alice`` never matches the sessions
    of a user ``alice.bob``. ``user_part`` is the user as it appears in SourceIdentities."""
    if not user_part or not _USER_PART.match(user_part):
        raise ValueError(f"{user_part[:40]!r} is not the user part of a SourceIdentity")
    return f"sentinel.{user_part}.{'?' * 16}"


def wildcard_sid(before: datetime) -> str:
    return WILDCARD_PREFIX + before.astimezone(UTC).strftime(_WILDCARD_FORMAT)


def wildcard_before(sid: str) -> datetime | None:
    """The time a wildcard statement's ``aws:TokenIssueTime`` bound, read back from its Sid."""
    m = _WILDCARD_SID.match(sid)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), _WILDCARD_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def wildcard_entries(document: dict[str, Any] | None) -> dict[str, set[str]]:
    """Sentinel's wildcard statements in a document: Sid -> user patterns."""
    out: dict[str, set[str]] = {}
    for stmt in _statements(document):
        if _is_wildcard(stmt):
            cond = stmt.get("Condition")
            like = cond.get("StringLike") if isinstance(cond, dict) else None
            values = like.get(_CONDITION_KEY) if isinstance(like, dict) else None
            found = {values} if isinstance(values, str) else set(values or [])
            out.setdefault(str(stmt["Sid"]), set()).update(v for v in found if isinstance(v, str))
    return out


def denies_user(document: dict[str, Any] | None, pattern: str, before: datetime) -> bool:
    """True when the document holds ``pattern`` with a bound at or after ``before``."""
    for sid, patterns in wildcard_entries(document).items():
        stamp = wildcard_before(sid)
        if stamp is not None and stamp >= before.replace(microsecond=0) and pattern in patterns:
            return True
    return False


def cut_wildcard(
    document: dict[str, Any] | None, pattern: str, bound: datetime
) -> dict[str, Any] | None:
    """The document with ``pattern`` taken out of every wildcard statement that bounds after
    ``bound`` and put in one bounded at ``bound`` (to the second, rounded down); None when no
    statement of ``pattern`` bounds after it. A lifted block: the user's credentials issued
    from ``bound`` on work again, those issued before stay denied. Other users' patterns and
    every other statement stay as they are (wildcards last, in Sid order, as in
    :func:`merge_document`)."""
    bound = bound.astimezone(UTC).replace(microsecond=0)
    wildcards = wildcard_entries(document)
    later = [
        sid
        for sid, patterns in wildcards.items()
        if pattern in patterns and (wildcard_before(sid) or bound) > bound
    ]
    if not later:
        return None
    for sid in later:
        wildcards[sid].discard(pattern)
        if not wildcards[sid]:
            del wildcards[sid]
    wildcards.setdefault(wildcard_sid(bound), set()).add(pattern)
    statements = [s for s in _statements(document) if not _is_wildcard(s)]
    statements += [wildcard_statement(sid, wildcards[sid]) for sid in sorted(wildcards)]
    return {"Version": "2012-10-17", "Statement": statements}


def wildcard_statement(sid: str, patterns: set[str]) -> dict[str, Any]:
    stamp = wildcard_before(sid)
    assert stamp is not None
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringLike": {_CONDITION_KEY: sorted(patterns)},
            "DateLessThan": {"aws:TokenIssueTime": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
    }


def _is_wildcard(stmt: dict[str, Any]) -> bool:
    sid = stmt.get("Sid")
    return isinstance(sid, str) and wildcard_before(sid) is not None


def _matches_any(identity: str, patterns: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(identity, p) for p in patterns)


def deny_statement(sid: str, identities: set[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {_CONDITION_KEY: sorted(identities)}},
    }


def fallback_document(now: datetime) -> dict[str, Any]:
    """AWS's own revoke-older-sessions policy: deny every session issued before ``now``."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


def issue_time_bound(document: dict[str, Any] | None) -> datetime | None:
    """The latest ``aws:TokenIssueTime`` an ``AWSRevokeOlderSessions`` document denies before
    (None when it holds no such statement)."""
    found: list[datetime] = []
    for stmt in _statements(document):
        cond = stmt.get("Condition")
        less = cond.get("DateLessThan") if isinstance(cond, dict) else None
        value = less.get("aws:TokenIssueTime") if isinstance(less, dict) else None
        if stmt.get("Effect") == "Deny" and isinstance(value, str):
            try:
                stamp = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            found.append(stamp)
    return max(found) if found else None


def as_document(raw: Any) -> dict[str, Any] | None:
    """A policy document from GetRolePolicy (boto3 decodes it; a string is parsed)."""
    if isinstance(raw, str):
        from urllib.parse import unquote

        try:
            raw = json.loads(unquote(raw) if raw.startswith("%") else raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def document_size(document: dict[str, Any] | None) -> int:
    return len(compact(document)) if document is not None else 0


def _statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    stmts = document.get("Statement")
    if isinstance(stmts, dict):
        stmts = [stmts]
    return [s for s in stmts if isinstance(s, dict)] if isinstance(stmts, list) else []


def _is_bucket(stmt: dict[str, Any]) -> bool:
    sid = stmt.get("Sid")
    return isinstance(sid, str) and bucket_start(sid) is not None


def _identities(stmt: dict[str, Any]) -> set[str]:
    cond = stmt.get("Condition")
    equals = cond.get("StringEquals") if isinstance(cond, dict) else None
    values = equals.get(_CONDITION_KEY) if isinstance(equals, dict) else None
    if isinstance(values, str):
        return {values}
    if isinstance(values, list):
        return {v for v in values if isinstance(v, str)}
    return set()
