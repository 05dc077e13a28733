"""The organisation-wide alternative to per-role Denies: one service control policy.

A service control policy (SCP) attached to the organisation root, an OU or an account applies
to every role in it, chained or not, so one statement on ``aws:SourceIdentity`` denies a
revoked session wherever its credentials are used, including roles in accounts where the
revoker cannot write IAM. ``sentinel init revocation-scp`` prints the document; attaching it is
the organisation's own step (``aws organizations update-policy``).

The document (no I/O here): the revoked sessions whose credentials may still be valid, one
``StringEquals`` Deny. An SCP may hold 5,120 characters; handled like the inline quota: when the
entries do not fit, the users with the most entries get, one after the other, their user
wildcard instead (every credential of the user issued before their latest revocation, the same
``StringLike`` + ``DateLessThan`` statement as in ``SentinelRevokedSessions``), which also
denies any of their other sessions issued before then. When even that does not fit, there is
no document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.errors import HardRevocationError
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revocation.deny_document import compact, user_pattern
from sentinelgw.sourceidentity import is_valid_sts_value, parse_source_identity

SCP_QUOTA_CHARS = 5_120
SCP_SID = "SentinelRevokedSessions"


@dataclass(frozen=True, slots=True)
class ScpDocument:
    document: dict[str, Any]
    named: tuple[str, ...]  # SourceIdentities denied one by one
    wildcards: tuple[tuple[str, datetime], ...]  # (user pattern, bound) that replaced entries
    chars: int


def revoked_live(records: Iterable[SessionRecord], now: datetime) -> list[SessionRecord]:
    """Revoked records whose SourceIdentity is Sentinel's own and whose credentials may still
    be valid: the sessions the SCP must deny."""
    out = []
    for r in records:
        parsed = parse_source_identity(r.source_identity)
        if (
            r.effective_status(now) == "revoked"
            and parsed is not None
            and parsed.id == r.id
            and is_valid_sts_value(r.source_identity)
            and r.credentials_may_be_live(now)
        ):
            out.append(r)
    return out


def scp_document(records: list[SessionRecord], *, quota: int = SCP_QUOTA_CHARS) -> ScpDocument:
    """The SCP denying ``records`` (see :func:`revoked_live`), within ``quota`` characters."""
    by_user: dict[str, list[SessionRecord]] = defaultdict(list)
    for r in records:
        parsed = parse_source_identity(r.source_identity)
        assert parsed is not None
        by_user[parsed.user].append(r)
    wild: dict[str, datetime] = {}
    # The users with most entries give way first; ties by name, so the result is stable.
    order = sorted(by_user, key=lambda u: (-len(by_user[u]), u))
    while True:
        named = sorted(r.source_identity for u, rs in by_user.items() if u not in wild for r in rs)
        doc = _document(named, wild)
        if len(compact(doc)) <= quota:
            return ScpDocument(
                document=doc,
                named=tuple(named),
                wildcards=tuple(sorted((user_pattern(u), t) for u, t in wild.items())),
                chars=len(compact(doc)),
            )
        remaining = [u for u in order if u not in wild and len(by_user[u]) > 1]
        if not remaining:
            raise HardRevocationError(
                f"the revoked sessions do not fit one service control policy "
                f"({len(compact(doc))} of {SCP_QUOTA_CHARS} characters, even with user "
                "wildcards)",
                hint="Rely on the per-role Denies of 'sentinel server-revoke', or split the "
                "document by user into several SCPs",
            )
        user = remaining[0]
        latest = max(r.revoked_at or r.started_at for r in by_user[user])
        # Rounded up to the second: the bound must not fall before the last revoked issue.
        wild[user] = (latest + timedelta(seconds=1)).replace(microsecond=0)


def _document(named: list[str], wild: dict[str, datetime]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    if named:
        statements.append(
            {
                "Sid": SCP_SID,
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceIdentity": named}},
            }
        )
    for n, (user, bound) in enumerate(sorted(wild.items())):
        statements.append(
            {
                "Sid": f"SentinelRevokedUser{n}",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringLike": {"aws:SourceIdentity": user_pattern(user)},
                    "DateLessThan": {"aws:TokenIssueTime": bound.strftime("%Y-%m-%dT%H:%M:%SZ")},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
