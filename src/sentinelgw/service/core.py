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
from fnmatch import fnmatchcase
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import AWSError, SentinelError, SessionNotFound
from sentinelgw.policy import Decision, Mode, Request, denial_message, evaluate
from sentinelgw.service.access import AccessRequests
from sentinelgw.service.caller import ASSUMED_ROLE, SSO_ROLE_PATH, SSO_ROLE_PREFIX, Caller
from sentinelgw.service.counter import RequestCounter
from sentinelgw.service.document import (
    CALLER_KINDS,
    ROLE_CALLER,
    DocumentSource,
    ServiceDocument,
    Target,
)
from sentinelgw.service.notify import Notifier
from sentinelgw.service.ratelimit import RateLimiter
from sentinelgw.service.refusal import Refusal, safe_code
from sentinelgw.service.table import ServiceTable, StoredSession
from sentinelgw.sessions.model import SessionRecord, is_session_id
from sentinelgw.sourceidentity import format_source_identity, new_id
from sentinelgw.timeutil import iso

CREDENTIAL_SECONDS = 3600
STS_MIN_SECONDS = 900
# Served credentials keep more than botocore's 15-minute advisory refresh window ahead.
REFRESH_MARGIN = timedelta(minutes=20)
DEFAULT_SESSION = timedelta(hours=1)
MAX_SESSION = timedelta(hours=12)
MIN_SESSION = timedelta(minutes=1)
# A renewable session (``sentinel exec --remote``) lives for a lease its exec renews; one whose
# exec stops renewing reads expired, and is refused, at the end of its last lease.
DEFAULT_LEASE = timedelta(minutes=5)
# A renewable session can end at any moment, so its credentials last STS's minimum; they are
# reused while they keep more than botocore's 10-minute mandatory refresh window.
LEASED_REUSE = timedelta(minutes=10)
SESSION_TAG = "SentinelSessionId"
HardRevoke = Callable[[SessionRecord, datetime], str]
MODES = {
    "server": Mode.SERVER,
    "credential_process": Mode.CREDENTIAL_PROCESS,
    "console": Mode.CONSOLE,
}


@dataclass(frozen=True, slots=True)
class Grant:
    """Credentials handed to a caller, and the session they belong to."""

    session_id: str
    credentials: AwsCredentials
    expires_at: datetime
    user: str
    profile: str
    role_arn: str
    source_identity: str
    # A renewable session's latest possible end (None: the session cannot be renewed).
    renew_until: datetime | None = None


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
        if under is not None:
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
        self._decide(doc, caller, target, Mode.SERVER, now, note, under=record.request_id)
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
        reason = _required(body, "reason")
        if not is_session_id(session_id):
            raise Refusal(404, "SessionNotFound", "no such session")
        note["session_id"] = session_id
        doc = self.document()
        stored = self.table.get(session_id)
        if stored is None:
            raise Refusal(404, "SessionNotFound", f"no session {session_id}")
        admin = any(fnmatchcase(caller.user, pattern) for pattern in doc.admins)
        if not admin:
            self._limit(doc, caller, "revokes_per_minute", "revoked", "sessions")
        if not admin and stored.caller_arn != caller.arn:
            raise Refusal(
                403,
                "NotAuthorized",
                f"user {caller.user} may revoke only their own "
                "sessions (the service document's admins may revoke any)",
            )
        now = self.clock()
        try:
            revoked = self.table.store.revoke(session_id, caller.user, reason, now)
        except SessionNotFound as exc:
            raise Refusal(409, "SessionEnded", str(exc)) from None
        except SentinelError as exc:
            raise Refusal(503, "SessionTableUnavailable", str(exc)) from None
        with self._lock:
            self._creds.pop(session_id, None)
        iam = None if self.hard_revoke is None else self.hard_revoke(revoked, now)
        if iam is not None:
            note["message"] = iam
        try:  # best effort: the revoke stands; the sweep cancels what this could not
            self.requests.user_revoked(revoked.user, caller.user, now)
        except Exception as exc:
            note["error"] = f"pending access requests not cancelled ({type(exc).__name__})"
        return {"session": revoked.to_export(now), "iam": iam}

    # -- a session's own life: renewal, end, and the caller's views ------------------------

    def renew(self, caller: Caller, session_id: str, note: dict[str, Any]) -> dict[str, Any]:
        """Move a renewable session's end a lease on (never past ``renew_until``)."""
        if not is_session_id(session_id):
            raise Refusal(404, "SessionNotFound", "no such session")
        note["session_id"] = session_id
        doc = self.document()
        now = self.clock()
        stored, block = self.table.read(session_id, caller.user, now)
        record = self._owned(stored, caller, session_id)
        assert stored is not None
        note["profile"] = record.profile
        _refuse_unless_active(record, now)
        if block is not None:
            raise Refusal(403, "UserBlocked", block.describe())
        if stored.renew_until is None or stored.lease is None:
            raise Refusal(
                409, "NotRenewable", f"session {session_id} has a fixed lifetime; start a new one"
            )
        target = doc.profiles.get(record.profile)
        if target is None or target.role_arn != record.role_arn:
            raise Refusal(
                403,
                "ProfileChanged",
                f"profile {record.profile} no longer leads to this session's role",
            )
        decision = self._decide(
            doc, caller, target, Mode.SERVER, now, note, under=record.request_id
        )
        until = stored.renew_until
        if decision.max_server_duration is not None:  # the policy may have tightened since
            until = min(until, record.started_at + decision.max_server_duration)
        end = min(now + stored.lease, until)
        if end > record.expires_at:
            record = self.table.renew(session_id, now, end)
        return {
            "session_id": session_id,
            "status": record.effective_status(now),
            "expires_at": iso(record.expires_at),
            "renew_until": iso(until),
            "lease_seconds": int(stored.lease.total_seconds()),
        }

    def end(
        self, caller: Caller, session_id: str, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """The creator ends a session: status ``ended``, with a reason and the time after
        which no credential it issued is valid."""
        reason = _string(body, "reason") or f"ended by {caller.user}"
        if not is_session_id(session_id):
            raise Refusal(404, "SessionNotFound", "no such session")
        note["session_id"] = session_id
        stored = self.table.get(session_id)
        if stored is None:
            raise Refusal(404, "SessionNotFound", f"no session {session_id}")
        record = self._owned(stored, caller, session_id)
        note["profile"] = record.profile
        now = self.clock()
        valid_until = credentials_valid_until(record, now, leased=stored.renew_until is not None)
        ended = self.table.end(session_id, now, reason, valid_until)
        with self._lock:
            self._creds.pop(session_id, None)
        return {
            "session": {**ended.to_export(now), "credentials_valid_until": iso(valid_until)},
            "credentials_valid_until": iso(valid_until),
        }

    def sessions(
        self, caller: Caller, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """The caller's own sessions, newest first (at most ``limit``, 1 to 200)."""
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 200:
            raise Refusal(400, "BadRequest", "limit must be a whole number from 1 to 200")
        now = self.clock()
        rows = []
        for stored in self.table.mine(caller.user, caller.arn, limit):
            row = stored.record.to_export(now)
            row["renew_until"] = iso(stored.renew_until) if stored.renew_until else None
            row["credentials_valid_until"] = iso(stored.valid_until) if stored.valid_until else None
            rows.append(row)
        return {"user": caller.user, "sessions": rows}

    def decisions(
        self, caller: Caller, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """Read-only: what the service would decide for the caller, per profile and mode.

        Nothing is created or counted; the answer names the rule that decides, so ``sentinel
        list`` and ``policy explain`` can show the service's side.
        """
        doc = self.document()
        wanted = _string(body, "profile")
        note["profile"] = wanted
        targets = (
            [_target(doc, wanted)] if wanted else [doc.profiles[p] for p in sorted(doc.profiles)]
        )
        now = self.clock()
        block = self.table.block(caller.user, now)
        profiles = []
        for target in targets:
            modes = {}
            for name, mode in MODES.items():
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
                d = evaluate(doc.policy, request)
                cap = d.max_server_duration
                modes[name] = {
                    "allowed": d.allowed and block is None,
                    "effect": d.effect.value if d.effect is not None else None,
                    "rule": d.rule.name if d.rule else None,
                    "rule_number": d.rule.index + 1 if d.rule else None,
                    "reason": d.reason,
                    "message": None if d.allowed else _service_denial(d, request),
                    "max_server_duration_seconds": int(cap.total_seconds()) if cap else None,
                }
            profiles.append(
                {"profile": target.profile, "role_arn": target.role_arn, "modes": modes}
            )
        return {
            "user": caller.user,
            "caller_arn": caller.arn,
            "service_id": self.service_id,
            "policy_source": doc.source,
            "blocked": block.describe() if block is not None else None,
            "profiles": profiles,
        }

    def _refuse_if_blocked_meanwhile(self, record: SessionRecord, now: datetime) -> None:
        """Read the block again, consistently, now that the record and the credentials exist.

        A revoker writes the block first, then finds the user's sessions through an index that
        DynamoDB updates eventually. A session whose first block check came just before the
        block may be missing from that index: if this read sees the block, the session revokes
        itself and its credentials are never handed out; if it does not, the credentials were
        issued before the block was written, and a blocked user's revocation denies every
        credential of the user issued before then (see docs/security.md).
        """
        block = self.table.block(record.user, self.clock())
        if block is None:
            return
        with self._lock:
            self._creds.pop(record.id, None)
        try:
            self.table.store.revoke(
                record.id,
                f"sentinel service {self.service_id}",
                "the user was blocked while the session started",
                now,
            )
        except SentinelError:
            pass  # revoked or ended meanwhile; its credentials were never handed out
        raise Refusal(403, "UserBlocked", block.describe())

    def healthy(self) -> dict[str, Any]:
        loaded = self.documents.loaded
        reachable = self.table.reachable()
        return {
            "status": "ok" if loaded and reachable else "unavailable",
            "policy_loaded": loaded,
            "table_reachable": reachable,
            "service_id": self.service_id,
        }

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
                    f"the access request {under} this session was started under is no longer "
                    "approved; ask again with: sentinel request --profile "
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
        self._record_expiry(record, creds)
        # The record keeps every key it was issued (for 'audit session-activity'); keys the
        # table does not know are never handed out.
        try:
            self.table.store.add_access_keys(record.id, [creds.access_key_id])
        except SentinelError as exc:
            raise Refusal(503, "SessionTableUnavailable", str(exc)) from None
        with self._lock:
            self._creds[record.id] = creds
        return creds

    def _record_expiry(self, record: SessionRecord, creds: AwsCredentials) -> None:
        """Keep STS's expiry in the record (``credentials_expire_at``): STS issues at least 15
        minutes, so credentials can outlive ``expires_at``, and a revoke decides by it whether
        they may still be valid. Best effort: without it, ``expires_at`` is used."""
        if creds.expiration is None or creds.expiration <= record.credentials_end():
            return
        try:
            self.table.store.touch(
                record.id, 0, self.clock(), credentials_expire_at=creds.expiration
            )
        except SentinelError:
            pass


def credentials_valid_until(record: SessionRecord, now: datetime, *, leased: bool) -> datetime:
    """The time after which no credential issued for ``record`` is valid, if it ends ``now``.

    Credentials are issued only while the session is active, so at the latest at
    ``min(now, expires_at)``; they last STS's 15 minutes (a renewable session) or until the
    session's end within 15 minutes to an hour (see :meth:`SentinelService._assume`), and that
    length never shrinks as the issue time moves later, so the last possible issue bounds all.
    """
    last = min(now, record.expires_at)
    if leased:
        return last + timedelta(seconds=STS_MIN_SECONDS)
    left = int((record.expires_at - last).total_seconds())
    return last + timedelta(seconds=max(STS_MIN_SECONDS, min(CREDENTIAL_SECONDS, left)))


def _refuse_unless_active(record: SessionRecord, now: datetime) -> None:
    if record.effective_status(now) == "revoked":
        by = f" by {record.revoked_by}" if record.revoked_by else ""
        why = f": {record.revoked_reason}" if record.revoked_reason else ""
        raise Refusal(403, "SessionRevoked", f"session {record.id} was revoked{by}{why}")
    if record.effective_status(now) != "active":
        raise Refusal(403, "SessionExpired", f"session {record.id} has ended; start a new one")


def _service_denial(decision: Decision, request: Request) -> str:
    """The policy's denial text, with the fix the service can offer (a remote exec session)."""
    rule = decision.rule
    if decision.denial == "not_server" and rule is not None:
        return (
            f"policy rule {rule.label()} requires a server session for profile "
            f"'{request.profile}', so credential_process credentials are not issued for it. "
            f"Run: sentinel exec --remote URL --profile {request.profile} -- ..."
        )
    return denial_message(decision, request)


def _grant(
    record: SessionRecord, creds: AwsCredentials, renew_until: datetime | None = None
) -> Grant:
    return Grant(
        session_id=record.id,
        credentials=creds,
        expires_at=record.expires_at,
        user=record.user,
        profile=record.profile,
        role_arn=record.role_arn,
        source_identity=record.source_identity,
        renew_until=renew_until,
    )


def _target(doc: ServiceDocument, profile: str) -> Target:
    target = doc.profiles.get(profile)
    if target is None:
        # Only the name asked for: the list of profiles is not every caller's to read.
        raise Refusal(
            403,
            "UnknownProfile",
            f"the service has no profile {profile!r} for you; check the name with the "
            "service's operators",
        )
    return target


_KIND_NAMES = {"iam-user": "IAM users", "identity-center": "Identity Center users"}


def _check_caller_kind(target: Target, caller: Caller, decision: Decision) -> None:
    """Refuse a caller kind the profile does not serve (see the module docstring)."""
    accepted = target.callers
    if accepted is None:
        if not (decision.requires_server or decision.requires_session_tracking):
            return
        accepted = CALLER_KINDS
    if caller.kind in accepted:
        return
    roles = [a[len(ROLE_CALLER) :] for a in accepted if a.startswith(ROLE_CALLER)]
    if caller.kind == ASSUMED_ROLE and any(fnmatchcase(caller.role or "", r) for r in roles):
        return
    served = [_KIND_NAMES[a] for a in accepted if a in _KIND_NAMES]
    served += [f"sessions of role {r}" for r in roles]
    what = "a role session" if caller.kind == ASSUMED_ROLE else _KIND_NAMES[caller.kind][:-1]
    fix = "call with your own IAM user or Identity Center sign-in, not an assumed role"
    if (caller.role or "").startswith(SSO_ROLE_PREFIX):
        fix = (
            "IAM did not confirm it as an Identity Center role (the service reads roles under "
            f"{SSO_ROLE_PATH} with iam:GetRole; its operators may need to re-run "
            "sentinel init tvm)"
        )
    raise Refusal(
        403,
        "CallerKindNotAllowed",
        f"profile {target.profile} serves {' and '.join(served) or 'no caller'} only, and "
        f"you called as {what} ({caller.user}); {fix}",
    )


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise Refusal(
            400, "BadRequest", f"'{key}' must be a non-empty string of at most 256 characters"
        )
    return value.strip()


def _required(body: dict[str, Any], key: str) -> str:
    value = _string(body, key, required=True)
    assert value is not None
    return value


def _lifetime(
    raw: Any,
    cap: timedelta | None,
    *,
    default: timedelta = DEFAULT_SESSION,
    minimum: timedelta = MIN_SESSION,
) -> timedelta:
    if raw is None:
        wanted = default
    elif isinstance(raw, int) and not isinstance(raw, bool):
        # Checked as a number first: timedelta(seconds=10**100) overflows.
        if not 0 < raw <= MAX_SESSION.total_seconds():
            low = int(minimum.total_seconds())
            raise Refusal(400, "BadRequest", f"duration_seconds must be from {low} to 43200")
        wanted = timedelta(seconds=raw)
    else:
        raise Refusal(400, "BadRequest", "duration_seconds must be a whole number of seconds")
    if not minimum <= wanted <= MAX_SESSION:
        low = int(minimum.total_seconds())
        raise Refusal(400, "BadRequest", f"duration_seconds must be from {low} to 43200")
    return min(wanted, cap) if cap is not None else wanted


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise Refusal(400, "BadRequest", f"'{key}' must be true or false")
    return value
