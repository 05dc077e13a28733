"""What the credential service decides: who may start a session, get credentials, revoke.

Each public method takes an already-verified :class:`Caller` and plain values, and returns
data or raises :class:`Refusal`. The policy, the profile→role map and the table are the
service's own; nothing the client sends selects them.

Order for a new session: rate limit, blocks, policy and caller kind first, then the record (a
conditional put), and only then AssumeRole, so no credentials exist for a session the table does
not know; then the block is read again before the credentials are handed out, so a block written
meanwhile still refuses them. Every later credential request re-evaluates the current policy and
reads the record and the user's block in one strongly consistent read; any table error refuses.

A block applies to every human behind the caller (:attr:`Caller.humans`). A profile serves only
the caller kinds its ``callers`` allow (by default a protected profile serves IAM users and
Identity Center users only), so a blocked user cannot come back as a role session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import AWSError, SentinelError
from sentinelgw.policy import Decision, Mode, Request, evaluate
from sentinelgw.service import session_calls
from sentinelgw.service.access import AccessRequests
from sentinelgw.service.breakglass import BreakGlass
from sentinelgw.service.caller import Caller
from sentinelgw.service.checks import (  # re-exported (their home was here)
    CREDENTIAL_SECONDS,
    DEFAULT_SESSION,
    MAX_SESSION,
    MIN_SESSION,
    MODES,
    STS_MIN_SECONDS,
    Grant,
    _check_caller_kind,
    _flag,
    _grant,
    _lifetime,
    _required,
    _service_denial,
    _string,
    _target,
    credentials_valid_until,
)
from sentinelgw.service.counter import RequestCounter
from sentinelgw.service.document import DocumentSource, ServiceDocument, Target
from sentinelgw.service.grants import BREAKGLASS
from sentinelgw.service.notify import Notifier
from sentinelgw.service.ratelimit import RateLimiter
from sentinelgw.service.refusal import Refusal, safe_code
from sentinelgw.service.table import ServiceTable, StoredSession
from sentinelgw.sessions.model import SessionRecord, is_session_id
from sentinelgw.sourceidentity import format_source_identity, new_id
from sentinelgw.timeutil import iso

# Served credentials keep more than botocore's 15-minute advisory refresh window ahead.
REFRESH_MARGIN = timedelta(minutes=20)
# A renewable session (``sentinel exec --remote``) lives for a lease its exec renews; one whose
# exec stops renewing reads expired, and is refused, at the end of its last lease.
DEFAULT_LEASE = timedelta(minutes=5)
# A renewable session can end at any moment, so its credentials last STS's minimum; they are
# reused while they keep more than botocore's 10-minute mandatory refresh window.
LEASED_REUSE = timedelta(minutes=10)
SESSION_TAG = "SentinelSessionId"
HardRevoke = Callable[[SessionRecord, datetime], str]


@dataclass
class SentinelService:
    """The service core; hosts wrap it with :class:`sentinelgw.service.api.ServiceApp`."""

    service_id: str
    documents: DocumentSource
    table: ServiceTable
    sts: Any
    clock: Callable[[], datetime]
    accounts: tuple[str, ...] = ()
    instance_id: str = field(default_factory=new_id)
    counter: RequestCounter | None = None
    # Adds the session's SourceIdentity to the role's Deny after a revoke and says how that
    # went; None: the service refuses further requests only (credentials already handed out
    # stay valid until they expire).
    hard_revoke: HardRevoke | None = None
    # The shortest session or lease a caller may ask for (a setting, so a sandbox can test a
    # lapse in seconds).
    min_session: timedelta = MIN_SESSION
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Announces access requests and their decisions (None: no notifications).
    notifier: Notifier | None = None
    # Checks Identity Center group approvers (service.groups.IdentityStoreGroups; None: none).
    groups: Any = None
    # Writes a line to the service log for decisions no API call makes (the sweep's).
    event_log: Callable[[dict[str, Any]], None] | None = None
    _requests: AccessRequests | None = field(default=None, repr=False)
    _creds: dict[str, AwsCredentials] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.counter is None:
            self.counter = RequestCounter(self.table.store, self.clock)

    @property
    def breakglass(self) -> BreakGlass:
        """Break-glass grants (:mod:`sentinelgw.service.breakglass`)."""
        return BreakGlass(self)

    @property
    def requests(self) -> AccessRequests:
        """Access requests (:mod:`sentinelgw.service.access`)."""
        if self._requests is None:
            self._requests = AccessRequests(self)
        return self._requests

    def log_event(self, entry: dict[str, Any]) -> None:
        if self.event_log is not None:
            self.event_log({"time": iso(self.clock()), **entry})

    def forget(self, session_id: str) -> None:
        """Drop the credentials held for a session that ended."""
        with self._lock:
            self._creds.pop(session_id, None)

    # -- callers ------------------------------------------------------------------------

    def admit(self, caller: Caller) -> None:
        """Refuse callers from accounts the service does not serve."""
        accounts = self.accounts or (self._own_account(),)
        if caller.account not in accounts:
            raise Refusal(
                403, "CallerNotAllowed", f"account {caller.account} is not served by this service"
            )

    def _own_account(self) -> str:
        with self._lock:
            if not self.accounts:
                try:
                    self.accounts = (str(self.sts.get_caller_identity()["Account"]),)
                except Exception as exc:
                    raise Refusal(
                        503,
                        "ServiceUnavailable",
                        f"the service cannot determine its own account ({type(exc).__name__})",
                    ) from exc
            return self.accounts[0]

    def document(self) -> ServiceDocument:
        try:
            return self.documents.current()
        except SentinelError as exc:
            raise Refusal(
                503,
                "PolicyUnavailable",
                "the service document cannot be loaded, so the service refuses; "
                "its operators find the reason in the service log",
                detail=str(exc),
            ) from None

    # -- the three calls ----------------------------------------------------------------

    def create_session(self, caller: Caller, body: dict[str, Any], note: dict[str, Any]) -> Grant:
        profile = _required(body, "profile")
        mode = MODES.get(_string(body, "mode") or "server")
        if mode is None:
            raise Refusal(400, "BadRequest", "mode must be server, credential_process or console")
        note["profile"] = profile
        doc = self.document()
        self._limit(doc, caller, "session_starts_per_minute", "started", "sessions")
        target = _target(doc, profile)
        now = self.clock()
        for human in caller.humans:
            block = self.table.block(human, now)
            if block is not None:
                raise Refusal(403, "UserBlocked", block.describe())
        decision = self._decide(doc, caller, target, mode, now, note)
        under = self._approval(decision, caller, target, now)
        renewable = _flag(body, "renewable")
        cap = decision.max_server_duration
        if under is not None and under.ends_at is not None:  # never outlives the approval
            left = under.ends_at - now
            cap = min(cap, left) if cap is not None else left
        lifetime = _lifetime(
            body.get("duration_seconds"),
            cap,
            default=DEFAULT_LEASE if renewable else DEFAULT_SESSION,
            minimum=self.min_session,
        )
        renew_until = now + min(cap or MAX_SESSION, MAX_SESSION) if renewable else None
        session_id = new_id()
        source_identity = format_source_identity(caller.user, session_id)
        record = SessionRecord.new(
            id=session_id,
            user=caller.user,
            profile=profile,
            role_arn=target.role_arn,
            started_at=now,
            expires_at=now + lifetime,
            server_instance_id=self.instance_id,
            source_identity=source_identity,
            host=f"service {self.service_id}",
        )
        if under is not None and under.kind == BREAKGLASS:  # loud: marked and logged
            record = replace(record, breakglass_id=under.id)
            note["breakglass"] = under.id
        elif under is not None:
            record = replace(record, request_id=under.id)
            note["access_request"] = under.id
        note["session_id"] = session_id
        if renew_until is None:
            self.table.create(record, caller.arn)
        else:
            self.table.create(record, caller.arn, renew_until=renew_until, lease=lifetime)
        try:
            creds = self._assume(record, now, leased=renew_until is not None)
        except Refusal:
            try:
                self.table.store.mark_expired(session_id, now)
            except SentinelError:
                pass  # the record then expires by time; the AssumeRole failure is the answer
            raise
        if under is not None:
            self.requests.attach(under, session_id, caller.user, now)
        self._refuse_if_blocked_meanwhile(record, now)
        return _grant(record, creds, renew_until)

    def credentials(self, caller: Caller, session_id: str, note: dict[str, Any]) -> Grant:
        if not is_session_id(session_id):
            raise Refusal(404, "SessionNotFound", "no such session")
        note["session_id"] = session_id
        doc = self.document()
        now = self.clock()
        stored, block = self.table.read(session_id, caller.user, now, also=caller.humans)
        record = self._owned(stored, caller, session_id)
        note["profile"] = record.profile
        if record.breakglass_id:  # every credential request under a grant: a log line names it
            note["breakglass"] = record.breakglass_id
        if record.status == "revoked":
            by = f" by {record.revoked_by}" if record.revoked_by else ""
            why = f": {record.revoked_reason}" if record.revoked_reason else ""
            raise Refusal(403, "SessionRevoked", f"session {session_id} was revoked{by}{why}")
        if record.effective_status(now) != "active":
            raise Refusal(403, "SessionExpired", f"session {session_id} has ended; start a new one")
        if block is not None:
            raise Refusal(403, "UserBlocked", block.describe())
        target = doc.profiles.get(record.profile)
        if target is None or target.role_arn != record.role_arn:
            raise Refusal(
                403,
                "ProfileChanged",
                f"profile {record.profile} no longer leads to "
                "this session's role; start a new session",
            )
        under = record.request_id or record.breakglass_id
        self._decide(doc, caller, target, Mode.SERVER, now, note, under=under)
        leased = stored is not None and stored.renew_until is not None
        creds = self._cached(session_id, now, record.expires_at, leased=leased) or self._assume(
            record, now, leased=leased
        )
        assert self.counter is not None
        self.counter.add(session_id)
        return _grant(record, creds, stored.renew_until if stored is not None else None)

    def revoke(
        self, caller: Caller, session_id: str, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """Revoke a session: its creator, or the document's admins."""
        return session_calls.revoke(self, caller, session_id, body, note)

    def renew(self, caller: Caller, session_id: str, note: dict[str, Any]) -> dict[str, Any]:
        """Move a renewable session's end a lease on (never past ``renew_until``)."""
        return session_calls.renew(self, caller, session_id, note)

    def end(
        self, caller: Caller, session_id: str, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """The creator ends a session (see :func:`session_calls.end`)."""
        return session_calls.end(self, caller, session_id, body, note)

    def sessions(
        self, caller: Caller, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """The caller's own sessions, newest first."""
        return session_calls.sessions(self, caller, body, note)

    def decisions(
        self, caller: Caller, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """Read-only: what the service would decide for the caller, per profile and mode."""
        return session_calls.decisions(self, caller, body, note)

    def _refuse_if_blocked_meanwhile(self, record: SessionRecord, now: datetime) -> None:
        session_calls.refuse_if_blocked_meanwhile(self, record, now)

    def healthy(self) -> dict[str, Any]:
        return session_calls.healthy(self)

    # -- helpers ------------------------------------------------------------------------

    def _limit(self, doc: ServiceDocument, caller: Caller, key: str, did: str, what: str) -> None:
        limit = doc.limits[key]
        wait = self.limiter.take(f"{key}:{caller.user}", limit)
        if wait is not None:
            raise Refusal(
                429,
                "TooManyRequests",
                f"user {caller.user} {did} {limit} {what} in the last minute, the service's "
                f"limit; try again in {wait}s",
                headers={"Retry-After": str(wait)},
            )

    def _owned(
        self, stored: StoredSession | None, caller: Caller, session_id: str
    ) -> SessionRecord:
        if stored is None:
            raise Refusal(404, "SessionNotFound", f"no session {session_id}")
        if not stored.caller_arn or stored.caller_arn != caller.arn:
            raise Refusal(403, "NotSessionOwner", f"session {session_id} belongs to another caller")
        return stored.record

    def _decide(
        self,
        doc: ServiceDocument,
        caller: Caller,
        target: Target,
        mode: Mode,
        now: datetime,
        note: dict[str, Any],
        *,
        under: str | None = None,
    ) -> Decision:
        """Evaluate the policy for the caller; a ``require_approval`` rule is met by the
        caller's approved request covering the profile now (``under``: only that request, the
        one an existing session was started under)."""
        request = Request(
            profile=target.profile,
            user=caller.user,
            mode=mode,
            at=now,
            session_table=self.table.table,
            session_table_source="the service",
            role_arn=target.role_arn,
            via_service=True,
        )
        decision = evaluate(doc.policy, request)
        if decision.denial == "no_approval":
            covering = self.requests.covering(
                caller, target.profile, target.role_arn, now, only=under
            )
            if covering is not None:
                request = replace(request, approved_request=covering.id)
                decision = evaluate(doc.policy, request)
            elif under is not None:
                raise Refusal(
                    403,
                    "RequestEnded",
                    f"the access request or break-glass grant {under} this session was started "
                    "under is no longer open; ask again with: sentinel request --profile "
                    f'{target.profile} --justification "…"',
                )
        note["rule"] = decision.rule.name if decision.rule else None
        note["role_arn"] = target.role_arn
        if not decision.allowed:
            raise Refusal(
                403,
                "PolicyDenied",
                "Sentinel policy denied this request: " + _service_denial(decision, request),
            )
        _check_caller_kind(target, caller, decision)
        return decision

    def _approval(self, decision: Decision, caller: Caller, target: Target, now: datetime) -> Any:
        """The approved request a require_approval decision was allowed under, else None."""
        if not decision.approved_request:
            return None
        return self.requests.covering(
            caller, target.profile, target.role_arn, now, only=decision.approved_request
        )

    def _cached(
        self, session_id: str, now: datetime, session_end: datetime, *, leased: bool = False
    ) -> AwsCredentials | None:
        """Held credentials while they keep the refresh margin (or outlast the session)."""
        with self._lock:
            creds = self._creds.get(session_id)
        if creds is None or creds.expiration is None:
            return None
        left = creds.expiration - now
        if leased:
            return creds if left > LEASED_REUSE else None
        if left > REFRESH_MARGIN or (creds.expiration >= session_end and left > MIN_SESSION):
            return creds
        return None

    def _assume(
        self, record: SessionRecord, now: datetime, *, leased: bool = False
    ) -> AwsCredentials:
        # Credentials end with the session where STS allows (15 minutes at least); those of a
        # renewable session, which may end at any moment, last exactly that minimum.
        left = int((record.expires_at - now).total_seconds())
        duration = max(STS_MIN_SECONDS, min(CREDENTIAL_SECONDS, left))
        if leased:
            duration = STS_MIN_SECONDS
        try:
            with aws_call("sts", "AssumeRole", record.role_arn):
                resp = self.sts.assume_role(
                    RoleArn=record.role_arn,
                    RoleSessionName=record.source_identity,
                    SourceIdentity=record.source_identity,
                    DurationSeconds=duration,
                    Tags=[{"Key": SESSION_TAG, "Value": record.id}],
                )
        except AWSError as exc:
            raise Refusal(
                502,
                "AssumeRoleFailed",
                f"sts:AssumeRole on {record.role_arn} failed ({safe_code(exc)})",
                detail=exc.message,
            ) from exc
        c = resp["Credentials"]
        creds = AwsCredentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]
        )
        session_calls.record_expiry(self, record, creds)
        # The record keeps every key it was issued (for 'audit session-activity'); keys the
        # table does not know are never handed out.
        try:
            self.table.store.add_access_keys(record.id, [creds.access_key_id])
        except SentinelError as exc:
            raise Refusal(503, "SessionTableUnavailable", str(exc)) from None
        with self._lock:
            self._creds[record.id] = creds
        return creds


__all__ = ["Grant", "HardRevoke", "SentinelService", "credentials_valid_until", "MODES"]
__all__ += [
    "CREDENTIAL_SECONDS",
    "DEFAULT_SESSION",
    "MAX_SESSION",
    "MIN_SESSION",
    "STS_MIN_SECONDS",
]
