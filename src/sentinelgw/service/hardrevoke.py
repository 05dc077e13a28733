"""Hard revocation from the service: after a revoke, the session's SourceIdentity is added to
the role's ``SentinelRevokedSessions`` Deny (:func:`sentinelgw.sessions.revoke.deny_in_iam`),
with the service's own IAM permissions, so credentials already handed out stop working once
IAM applies the change. The outcome is one line for the answer and the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sentinelgw.service.core import HardRevoke
from sentinelgw.sessions.model import SessionRecord


def iam_revoker(iam: Any) -> HardRevoke:
    """A hard-revocation hook using ``iam`` (a client with the service's credentials)."""

    def revoke(record: SessionRecord, now: datetime) -> str:
        from sentinelgw.sessions.revoke import deny_in_iam

        warnings: list[str] = []

        def fallback(warning: str) -> bool:
            warnings.append(warning)
            return True  # the role's quota is full: AWS's own deny, said loudly below

        outcome = deny_in_iam(iam, record, now=now, on_fallback=fallback)
        if outcome.iam_error is not None:
            return f"NOT denied by IAM: {outcome.iam_error}"
        result = outcome.iam
        if result is None:
            return "not denied by IAM"
        if result.outcome == "fallback":
            what = "every session of the role issued before now is denied"
        else:
            what = f"SourceIdentity {result.source_identity} is denied"
        loud = f"; WARNING: {warnings[0]}" if warnings else ""
        return (
            f"denied by IAM: policy {result.policy_name} on role {result.role_arn} ({what}){loud}"
        )

    return revoke
