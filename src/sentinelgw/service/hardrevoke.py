"""Hard revocation from the service: after a revoke, the session's SourceIdentity is added to
the role's ``SentinelRevokedSessions`` Deny (:func:`sentinelgw.sessions.revoke.deny_in_iam`),
with the service's own IAM permissions, so credentials already handed out stop working once
IAM applies the change. The outcome is one line for the answer and the log.

A revoke through the service never falls back on AWS's ``AWSRevokeOlderSessions``, which would
end every session of the role: whoever asks, a full policy leaves the session revoked in the
table only (its credentials expire within the hour), and the answer says so. Ending every
session of a role is for an admin's explicit ``sentinel server-revoke --all-before``. Every
write drops the entries of sessions whose credentials have all expired (the service reads its
own records), so the policy holds only sessions that can still act.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.service.core import HardRevoke
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revoked_policy import POLICY_NAME
from sentinelgw.sourceidentity import parse_source_identity

# Served credentials last at least 15 minutes (STS's minimum), so they can outlast the session
# by that much; plus clock skew.
CREDENTIALS_OUTLAST = timedelta(minutes=20)
_AWS_TEXT = re.compile(r"(failed with [A-Za-z0-9.]{1,64}): .*$")


def iam_revoker(iam: Any, store: Any = None) -> HardRevoke:
    """A hard-revocation hook using ``iam`` (a client with the service's credentials).

    ``store`` (a :class:`~sentinelgw.sessions.store.SessionStore`) lets each write prune the
    entries of sessions that have ended; None prunes by age only.
    """

    def revoke(record: SessionRecord, now: datetime) -> str:
        from sentinelgw.sessions.revoke import deny_in_iam

        refused: list[str] = []

        def no_fallback(warning: str) -> bool:
            refused.append(warning)
            return False

        outcome = deny_in_iam(
            iam,
            record,
            now=now,
            on_fallback=no_fallback,
            ended=None if store is None else ended_sessions(store, now),
        )
        if outcome.iam_error is not None:
            if refused:
                return (
                    f"NOT denied by IAM: policy {POLICY_NAME} on role {record.role_arn} is "
                    "full, and a revoke through the service never ends the role's other "
                    "sessions; the session is revoked in the table and its credentials expire "
                    "within the hour"
                )
            # Sentinel's own sentence, cut before any text AWS sent with its error code.
            return "NOT denied by IAM: " + _AWS_TEXT.sub(r"\1", str(outcome.iam_error))
        result = outcome.iam
        if result is None:
            return "not denied by IAM"
        return (
            f"denied by IAM: policy {result.policy_name} on role {result.role_arn} "
            f"(SourceIdentity {result.source_identity} is denied)"
        )

    return revoke


def ended_sessions(store: Any, now: datetime) -> Any:
    """``ended`` for :func:`merge_document`: entries whose session's credentials all expired.

    An entry counts only when its record is found and names that very SourceIdentity; a
    missing record or a table error keeps the entry (denying too long is the safe side).
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
            and rec.expires_at + CREDENTIALS_OUTLAST < now
        }

    return ended
