"""The decision for one credential request: current policy, revocation, then credentials.

Nothing here does network I/O: the policy source is a stat (or a background-refreshed SSM
value), revocation is an in-memory flag kept by the tracker's poller, and credentials come from
the refresher. That keeps per-request overhead near a bare loopback server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinelgw.errors import SentinelError
from sentinelgw.gate import decide, make_request
from sentinelgw.policy import Mode
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
        try:
            policy = self.policy_source.current()
        except SentinelError as exc:
            return self._refuse(
                503,
                "PolicyUnavailable",
                f"Sentinel cannot load the current policy, so it refuses: {exc}",
            )
        now = utcnow()
        minute = now.replace(second=0, microsecond=0)
        cached = self._decided
        if (
            cached is not None
            and cached[0] is policy
            and cached[1] == minute
            and (not self.log.enabled)
        ):
            # Same policy object, same minute: the decision is the same, because time
            # conditions have minute precision (HH:MM, weekdays). A reloaded policy is a new
            # object, so an edit still applies to the very next request.
            request, decision = cached[2], cached[3]
        else:
            request = make_request(
                self.profile,
                self.user,
                Mode.SERVER,
                now,
                self.session_table,
                self.session_table_source,
                self.no_session_tracking,
            )
            session_id = self.tracker.session_id if self.tracker else None
            decision = decide(
                policy,
                request,
                self.log,
                request_id=new_id(),
                source_identity=self.source_identity,
                session_id=session_id,
                raise_on_deny=False,
            )
            self._decided = (policy, minute, request, decision)
        if not decision.allowed:
            return self._refuse(
                403,
                "AccessDenied",
                f"Sentinel policy denied this request: {deny_text(decision, request)}",
            )
        if decision.requires_session_tracking and (
            self.tracker is None or self.tracker.table != decision.session_table
        ):
            return self._refuse(
                403,
                "AccessDenied",
                f"the policy now requires tracking in table {decision.session_table!r}, "
                "which this session does not have; restart sentinel exec --server",
            )
        if self.tracker is not None:
            state = self.tracker.state()
            if state.state == "revoked":
                return self._refuse(
                    403, "SessionRevoked", f"Sentinel refused credentials: {state.detail}"
                )
            if state.state == "unavailable" and (
                decision.requires_session_tracking or not self.fail_open
            ):
                return self._refuse(
                    503,
                    "SessionCheckFailed",
                    f"Sentinel cannot check the session's revocation in table "
                    f"{self.tracker.table!r} ({state.detail}), so it refuses",
                )
        creds = self.refresher.current()
        if creds is None:
            return self._refuse(
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
        return served[1]

    def _refuse(self, status: int, code: str, message: str) -> Response:
        if self.on_refusal is not None:
            self.on_refusal(f"refused a credential request ({code}): {message}")
        return error(status, code, message)
