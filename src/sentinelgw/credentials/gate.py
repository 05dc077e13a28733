"""The policy gate every credential path goes through (exec, credentials, each server request).

It builds the :class:`~sentinelgw.policy.Request`, evaluates it, writes the decision log line and
turns a denial into :class:`PolicyDenied` with the one-line message that names the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sentinelgw.errors import PolicyDenied
from sentinelgw.policy import Request, denial_message, evaluate
from sentinelgw.timeutil import format_duration

if TYPE_CHECKING:
    import boto3

    from sentinelgw.credentials.model import Issued
    from sentinelgw.credentials.providers import CredentialPlan, CredentialProvider
    from sentinelgw.decisionlog import DecisionLog
    from sentinelgw.policy import Decision, Mode, Policy


def make_request(
    profile: str,
    user: str | None,
    mode: Mode,
    at: datetime,
    session_table: str | None = None,
    session_table_source: str | None = None,
    no_session_tracking: bool = False,
    *,
    role_arn: str | None = None,
    config_session_table: str | None = None,
) -> Request:
    return Request(
        profile=profile,
        user=user,
        mode=mode,
        at=at,
        role_arn=role_arn,
        session_table=session_table,
        session_table_source=session_table_source,
        no_session_tracking=no_session_tracking,
        config_session_table=config_session_table,
    )


def decide(
    policy: Policy,
    request: Request,
    log: DecisionLog,
    *,
    request_id: str,
    source_identity: str | None = None,
    session_id: str | None = None,
    raise_on_deny: bool = True,
) -> Decision:
    decision = evaluate(policy, request)
    if log.enabled:
        log.write(
            time=request.at.isoformat(),
            user=request.user,
            profile=request.profile,
            mode=str(request.mode),
            effect="allow" if decision.allowed else "deny",
            allowed=decision.allowed,
            rule=decision.rule.name if decision.rule else None,
            reason=decision.reason,
            source_identity=source_identity,
            request_id=request_id,
            session_table=decision.session_table,
            session_id=session_id,
            event="decision",
        )
    if not decision.allowed and raise_on_deny:
        raise PolicyDenied(denial_message(decision, request), decision=decision)
    return decision


def policy_capped(
    decision: Decision, duration: int | None, note: Callable[[str], None] | None = None
) -> int | None:
    """``duration`` (seconds) shortened to the matched rule's ``max_server_duration``, which
    caps every lifetime the rule allows; None stays None (the provider's default)."""
    cap = decision.max_server_duration
    if duration is None or cap is None or duration <= cap.total_seconds():
        return duration
    if note is not None:
        note(
            f"note: --duration capped at {format_duration(cap)} by the policy's max_server_duration"
        )
    return int(cap.total_seconds())


class PolicyGate:
    """Wraps a credential provider: ``retrieve`` evaluates the policy for the plan's user
    (logging the decision) and only then asks the inner provider; a denial raises
    :class:`PolicyDenied` before any credential exists."""

    def __init__(
        self,
        inner: CredentialProvider,
        policy: Policy,
        log: DecisionLog,
        *,
        profile: str,
        mode: Mode,
        at: datetime,
        session_table: str | None = None,
        session_table_source: str | None = None,
        config_session_table: str | None = None,
    ) -> None:
        self.inner = inner
        self.config_session_table = config_session_table
        self.policy = policy
        self.log = log
        self.profile = profile
        self.mode = mode
        self.at = at
        self.session_table = session_table
        self.session_table_source = session_table_source
        # Told when the policy shortens the asked-for lifetime; None: nobody is watching.
        self.note: Callable[[str], None] | None = None

    def plan(self, request_id: str) -> CredentialPlan:
        return self.inner.plan(request_id)

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        request = make_request(
            self.profile,
            plan.identity.user,
            self.mode,
            self.at,
            self.session_table,
            self.session_table_source,
            role_arn=plan.role_arn,
            config_session_table=self.config_session_table,
        )
        decision = decide(
            self.policy,
            request,
            self.log,
            request_id=plan.request_id,
            source_identity=plan.source_identity,
        )
        return self.inner.retrieve(plan, duration=policy_capped(decision, duration, self.note))

    def source_session(self) -> boto3.Session:
        return self.inner.source_session()
