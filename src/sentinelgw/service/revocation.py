"""Hard revocation from the service: after a revoke, the session's SourceIdentity is added to
the role's ``SentinelRevokedSessions`` Deny
(:func:`sentinelgw.sessions.revocation.revoke.deny_in_iam`),
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
from datetime import datetime
from typing import Any

from sentinelgw.service.core import HardRevoke
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.revocation.deny_document import POLICY_NAME
from sentinelgw.sessions.revocation.revoke import deny_in_iam, ended_sessions
from sentinelgw.sessions.revocation.role_deny import RoleQuotaFull

_AWS_TEXT = re.compile(r"(failed with [A-Za-z0-9.]{1,64}): .*$")


def iam_revoker(iam: Any, store: Any = None) -> HardRevoke:
    """A hard-revocation hook using ``iam`` (a client with the service's credentials).

    ``store`` (a :class:`~sentinelgw.sessions.store.SessionStore`) lets each write prune the
    entries of sessions that have ended; None prunes by age only.
    """

    def revoke(record: SessionRecord, now: datetime) -> str:
        outcome = deny_in_iam(
            iam,
            record,
            now=now,
            ended=None if store is None else ended_sessions(store, now),
        )
        if outcome.iam_error is not None:
            if isinstance(outcome.iam_error, RoleQuotaFull):
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
