"""What the credential service decides: who may start a session, get credentials, revoke.

Each public method takes an already-verified :class:`Caller` and plain values, and returns
data or raises :class:`Refusal`. The policy, the profile→role map and the table are the
service's own; nothing the client sends selects them.

Order for a new session: policy and block first, then the record (a conditional put), and only
then AssumeRole, so no credentials exist for a session the table does not know. Every later
credential request re-evaluates the current policy and reads the record and the user's block
in one strongly consistent read; any table error refuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import SentinelError, SessionNotFound
from sentinelgw.policy import Decision, Mode, Request, denial_message, evaluate
from sentinelgw.service.caller import Caller
from sentinelgw.service.counter import RequestCounter
from sentinelgw.service.document import DocumentSource, ServiceDocument, Target
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.table import ServiceTable, StoredSession
from sentinelgw.sessions.model import SessionRecord, is_session_id
from sentinelgw.sourceidentity import format_source_identity, new_id

CREDENTIAL_SECONDS = 3600
STS_MIN_SECONDS = 900
# Served credentials keep more than botocore's 15-minute advisory refresh window ahead.
REFRESH_MARGIN = timedelta(minutes=20)
DEFAULT_SESSION = timedelta(hours=1)
MAX_SESSION = timedelta(hours=12)
MIN_SESSION = timedelta(minutes=1)
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
    _creds: dict[str, AwsCredentials] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.counter is None:
            self.counter = RequestCounter(self.table.store, self.clock)

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
            raise Refusal(503, "PolicyUnavailable", str(exc)) from None

    # -- the three calls ----------------------------------------------------------------

    def create_session(self, caller: Caller, body: dict[str, Any], note: dict[str, Any]) -> Grant:
        profile = _required(body, "profile")
        mode = MODES.get(_string(body, "mode") or "server")
        if mode is None:
            raise Refusal(400, "BadRequest", "mode must be server, credential_process or console")
        note["profile"] = profile
        doc = self.document()
        target = _target(doc, profile)
        now = self.clock()
        block = self.table.block(caller.user, now)
        if block is not None:
            raise Refusal(403, "UserBlocked", block.describe())
        decision = self._decide(doc, caller, target, mode, now, note)
        lifetime = _lifetime(body.get("duration_seconds"), decision.max_server_duration)
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
        note["session_id"] = session_id
        self.table.create(record, caller.arn)
        try:
            creds = self._assume(record, now)
        except Refusal:
            try:
                self.table.store.mark_expired(session_id, now)
            except SentinelError:
                pass  # the record then expires by time; the AssumeRole failure is the answer
            raise
        return _grant(record, creds)

    def credentials(self, caller: Caller, session_id: str, note: dict[str, Any]) -> Grant:
        if not is_session_id(session_id):
            raise Refusal(404, "SessionNotFound", "no such session")
        note["session_id"] = session_id
        doc = self.document()
        now = self.clock()
        stored, block = self.table.read(session_id, caller.user, now)
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
        self._decide(doc, caller, target, Mode.SERVER, now, note)
        creds = self._cached(session_id, now, record.expires_at) or self._assume(record, now)
        assert self.counter is not None
        self.counter.add(session_id)
        return _grant(record, creds)

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
        return {"session": revoked.to_export(now), "iam": iam}

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
    ) -> Decision:
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
        note["rule"] = decision.rule.name if decision.rule else None
        note["role_arn"] = target.role_arn
        if not decision.allowed:
            raise Refusal(
                403,
                "PolicyDenied",
                "Sentinel policy denied this request: " + _service_denial(decision, request),
            )
        return decision

    def _cached(
        self, session_id: str, now: datetime, session_end: datetime
    ) -> AwsCredentials | None:
        """Held credentials while they keep the refresh margin (or outlast the session)."""
        with self._lock:
            creds = self._creds.get(session_id)
        if creds is None or creds.expiration is None:
            return None
        left = creds.expiration - now
        if left > REFRESH_MARGIN or (creds.expiration >= session_end and left > MIN_SESSION):
            return creds
        return None

    def _assume(self, record: SessionRecord, now: datetime) -> AwsCredentials:
        # Credentials end with the session where STS allows (15 minutes at least).
        left = int((record.expires_at - now).total_seconds())
        duration = max(STS_MIN_SECONDS, min(CREDENTIAL_SECONDS, left))
        try:
            resp = self.sts.assume_role(
                RoleArn=record.role_arn,
                RoleSessionName=record.source_identity,
                SourceIdentity=record.source_identity,
                DurationSeconds=duration,
                Tags=[{"Key": SESSION_TAG, "Value": record.id}],
            )
        except Exception as exc:
            from sentinelgw.awsclients import translate

            raise Refusal(
                502,
                "AssumeRoleFailed",
                translate(exc, "sts", "AssumeRole", record.role_arn).message,
            ) from exc
        c = resp["Credentials"]
        creds = AwsCredentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]
        )
        # The record keeps every key it was issued (for 'audit session-activity'); keys the
        # table does not know are never handed out.
        try:
            self.table.store.add_access_keys(record.id, [creds.access_key_id])
        except SentinelError as exc:
            raise Refusal(503, "SessionTableUnavailable", str(exc)) from None
        with self._lock:
            self._creds[record.id] = creds
        return creds


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


def _grant(record: SessionRecord, creds: AwsCredentials) -> Grant:
    return Grant(
        session_id=record.id,
        credentials=creds,
        expires_at=record.expires_at,
        user=record.user,
        profile=record.profile,
        role_arn=record.role_arn,
        source_identity=record.source_identity,
    )


def _target(doc: ServiceDocument, profile: str) -> Target:
    target = doc.profiles.get(profile)
    if target is None:
        known = ", ".join(sorted(doc.profiles)) or "none"
        raise Refusal(
            403, "UnknownProfile", f"the service has no profile {profile!r} (it serves: {known})"
        )
    return target


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


def _lifetime(raw: Any, cap: timedelta | None) -> timedelta:
    if raw is None:
        wanted = DEFAULT_SESSION
    elif isinstance(raw, int) and not isinstance(raw, bool):
        wanted = timedelta(seconds=raw)
    else:
        raise Refusal(400, "BadRequest", "duration_seconds must be a whole number of seconds")
    if not MIN_SESSION <= wanted <= MAX_SESSION:
        raise Refusal(400, "BadRequest", "duration_seconds must be from 60 to 43200")
    return min(wanted, cap) if cap is not None else wanted
