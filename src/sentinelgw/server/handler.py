"""The decision for one credential request: current policy, revocation, then credentials.

Nothing here does network I/O: the policy source is a stat (or a background-refreshed SSM
value), revocation is an in-memory flag kept by the tracker's poller, and credentials come from
the refresher. That keeps per-request overhead near a bare loopback server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinelgw.credentials.gate import make_request
from sentinelgw.errors import SentinelError
from sentinelgw.policy import Mode, evaluate
from sentinelgw.policy import denial_message as deny_text
from sentinelgw.server.http import Response, error
from sentinelgw.sourceidentity import new_id
from sentinelgw.timeutil import utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sentinelgw.credentials.model import AwsCredentials
    from sentinelgw.decisionlog import DecisionLog
    from sentinelgw.policy import Decision, Policy, Request
    from sentinelgw.policy.source import PolicySource
    from sentinelgw.server.refresher import CredentialRefresher
    from sentinelgw.server.tracker import SessionTracker


@dataclass
class RequestHandler:
    profile: str
    user: str
    policy_source: PolicySource
    refresher: CredentialRefresher
    tracker: SessionTracker | None
    log: DecisionLog
    session_table: str | None
    session_table_source: str | None
    no_session_tracking: bool
    source_identity: str | None
    fail_open: bool = False
    role_arn: str | None = None
    config_session_table: str | None = None
    # Shown each refusal's reason on Sentinel's own stderr (SDKs such as the JavaScript one
    # hide the response body); throttled by the caller. None: nobody is watching.
    on_refusal: Callable[[str], None] | None = None
    # The 200 response for the current credentials, built and encoded once per refresh
    # rather than once per request (benchmarks/server_bench.py).
    _served: tuple[AwsCredentials, Response] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # (policy, minute, request, decision) of the last evaluation; see __call__.
    _decided: tuple[Policy, datetime, Request, Decision] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __call__(self) -> Response:
        now = utcnow()
        decision: Decision | None = None
        try:
            decision, response = self._respond(now)
        except Exception:
            self._log_outcome(now, decision, error(500, "InternalError", "handler failed"))
            raise
        self._log_outcome(now, decision, response)
        if response.status != 200 and self.on_refusal is not None:
            self.on_refusal(
                f"refused a credential request ({response.body.get('Code')}): "
                f"{response.body.get('Message')}"
            )
        return response

    def _respond(self, now: datetime) -> tuple[Decision | None, Response]:
        """The decision (None if the policy could not be loaded) and the response to send."""
        try:
            policy = self.policy_source.current()
        except SentinelError as exc:
            return None, error(
                503,
                "PolicyUnavailable",
                f"Sentinel cannot load the current policy, so it refuses: {exc}",
            )
        request, decision = self._decide(policy, now)
        if not decision.allowed:
            return decision, error(
                403,
                "AccessDenied",
                f"Sentinel policy denied this request: {deny_text(decision, request)}",
            )
        if decision.requires_session_tracking and (
            self.tracker is None or self.tracker.table != decision.session_table
        ):
            return decision, error(
                403,
                "AccessDenied",
                f"the policy now requires tracking in table {decision.session_table!r}, "
                "which this session does not have; restart sentinel exec --server",
            )
        if self.tracker is not None:
            state = self.tracker.state()
            if state.state == "revoked":
                return decision, error(
                    403, "SessionRevoked", f"Sentinel refused credentials: {state.detail}"
                )
            if state.state == "unavailable" and (
                decision.requires_session_tracking or not self.fail_open
            ):
                return decision, error(
                    503,
                    "SessionCheckFailed",
                    f"Sentinel cannot check the session's revocation in table "
                    f"{self.tracker.table!r} ({state.detail}), so it refuses",
                )
        creds = self.refresher.current()
        if creds is None:
            return decision, error(
                503,
                "CredentialsUnavailable",
                "Sentinel could not refresh the session's credentials; see its log",
            )
        served = self._served
        if served is None or served[0] is not creds:
            served = (creds, Response(200, creds.container_json()))
            self._served = served
        if self.tracker is not None:
            self.tracker.count()
        return decision, served[1]

    def _decide(self, policy: Policy, now: datetime) -> tuple[Request, Decision]:
        """Evaluate the policy, reusing the last decision for the same policy and minute.

        Time conditions have minute precision (HH:MM, weekdays), so the same policy object in
        the same minute decides the same way; a reloaded policy is a new object, so an edit
        still applies to the very next request. The decision log line is written per request
        by :meth:`_log_outcome`, with the request's real outcome.
        """
        minute = now.replace(second=0, microsecond=0)
        cached = self._decided
        if cached is not None and cached[0] is policy and cached[1] == minute:
            return cached[2], cached[3]
        request = make_request(
            self.profile,
            self.user,
            Mode.SERVER,
            now,
            self.session_table,
            self.session_table_source,
            self.no_session_tracking,
            role_arn=self.role_arn,
            config_session_table=self.config_session_table,
        )
        decision = evaluate(policy, request)
        self._decided = (policy, minute, request, decision)
        return request, decision

    def log_rejected(self, response: Response) -> None:
        """Log a request the HTTP layer refused before this handler (token, host, path...)."""
        self._log_outcome(utcnow(), None, response, event="rejected")

    def _log_outcome(
        self, now: datetime, decision: Decision | None, response: Response, event: str | None = None
    ) -> None:
        """One decision log line for this request: served, or refused with the code sent."""
        if not self.log.enabled:
            return
        served = response.status == 200
        if served:
            reason = decision.reason if decision is not None else None
        else:
            reason = f"{response.body.get('Code')}: {response.body.get('Message')}"
        rule = decision.rule if decision is not None else None
        # Exactly the decision log's FIELDS, so the log appends it without filtering.
        self.log.append(
            {
                "time": now.isoformat(),
                "user": self.user,
                "profile": self.profile,
                "mode": Mode.SERVER.value,
                "effect": "allow" if served else "deny",
                "allowed": served,
                "rule": rule.name if rule is not None else None,
                "reason": reason,
                "source_identity": self.source_identity,
                "request_id": new_id(),
                "session_table": (
                    decision.session_table if decision is not None else self.session_table
                ),
                "session_id": self.tracker.session_id if self.tracker else None,
                "event": event or ("served" if served else "refused"),
            }
        )
