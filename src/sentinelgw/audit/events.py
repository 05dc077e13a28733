"""STS issuance events as the audit sees them, built from CloudTrail's record shape.

Six ``sts.amazonaws.com`` calls issue credentials: ``AssumeRole``, ``AssumeRoleWithSAML``
(IAM Identity Center and SAML sign-ins), ``AssumeRoleWithWebIdentity`` (OIDC: CI, EKS),
``GetSessionToken``, ``GetFederationToken`` and ``AssumeRoot``.

In such a record the *new* session's SourceIdentity is ``requestParameters.sourceIdentity``
(echoed in ``responseElements.sourceIdentity``), while ``userIdentity`` describes the *caller*.
When the caller is itself a role session that carries a SourceIdentity (role chaining),
``userIdentity.sessionContext.sourceIdentity`` holds it and the new session inherits it; the
caller's role is ``userIdentity.sessionContext.sessionIssuer.arn``. Both values are kept,
separately, so a report can say where a value came from. GetSessionToken, GetFederationToken
and AssumeRoot take no SourceIdentity parameter.

A failed call has ``errorCode`` and often ``requestParameters: null``; it issued nothing and is
never malformed. A call made by an AWS service has ``userIdentity.type`` ``AWSService`` or an
``invokedBy``.

Records are untrusted, so building never raises: a record that is not an issuance event gives
None, and one that is malformed is counted and named in :class:`ParseStats`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

EVENT_SOURCE = "sts.amazonaws.com"
ASSUME_ROLE = "AssumeRole"
ISSUANCE_EVENTS = frozenset({
    "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken",
    "GetFederationToken", "AssumeRoot",
})
# Calls whose request has no SourceIdentity parameter: whatever they issue is outside Sentinel.
NO_SOURCE_IDENTITY_PARAMETER = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRoot"})
# Calls that name the role they issue for in requestParameters.roleArn.
ROLE_EVENTS = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
MAX_NAMED_MALFORMED = 1000  # malformed records named in a report; all are counted


@dataclass(frozen=True, slots=True)
class IssuanceEvent:
    """One STS credential-issuing call recorded by CloudTrail."""

    event_id: str
    event_name: str
    event_time: datetime
    dedup_key: str  # sharedEventID when present, else eventID
    role_arn: str | None  # the role the call asked for; None for role-less calls
    role_session_name: str | None
    source_identity: str | None  # the request's own value
    chained_source_identity: str | None  # the caller's session value (role chaining)
    caller_role_arn: str | None  # the caller session's role (sessionContext.sessionIssuer)
    caller_arn: str | None
    caller_name: str | None  # userIdentity.userName (SAML, web identity, IAM users)
    principal_id: str | None
    principal_type: str | None
    invoked_by: str | None
    source_ip: str | None
    user_agent: str | None
    region: str | None
    accounts: tuple[str, ...]  # recipientAccountId; several for a merged cross-account pair
    error_code: str | None
    count: int = 1  # events this one stands for: more than 1 for an aggregated Athena row

    @property
    def effective_source_identity(self) -> str | None:
        """The SourceIdentity the new session carries: its own, else the inherited one."""
        return self.source_identity or self.chained_source_identity

    @property
    def inherited(self) -> bool:
        return not self.source_identity and bool(self.chained_source_identity)

    @property
    def by_aws_service(self) -> bool:
        return self.principal_type == "AWSService" or self.invoked_by is not None

    @property
    def who(self) -> str:
        """The caller for people: its ARN, else type and name, else principal id."""
        if self.caller_arn:
            return self.caller_arn
        name = self.caller_name or self.principal_id or self.invoked_by
        if self.principal_type and name:
            return f"{self.principal_type}:{name}"
        return name or self.principal_type or "unknown caller"

    def with_accounts(self, accounts: tuple[str, ...]) -> IssuanceEvent:
        return replace(self, accounts=accounts)


@dataclass(frozen=True, slots=True)
class MalformedRecord:
    """A record that could not be audited: where it was and why."""

    where: str
    index: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.where, "index": self.index, "reason": self.reason}


@dataclass
class ParseStats:
    """Counters shared by the reader threads of one source; guarded by a lock.

    ``malformed`` counts bad records and unreadable files together (the warning's number);
    ``bad_records`` names the records, ``unreadable`` the files.
    """

    records: int = 0  # issuance records looked at
    events: int = 0  # issuance events yielded (in the window)
    malformed: int = 0  # bad records + unreadable files
    files: int = 0  # log files read
    files_skipped: int = 0  # files without any issuance text, validated but not audited
    streamed: int = 0  # files too large to hold, parsed as a stream
    pages: int = 0  # LookupEvents pages
    throttled: int = 0  # LookupEvents throttling responses retried
    duplicates: int = 0  # copies dropped by the deduplication
    examples: list[str] = field(default_factory=list)  # first few reasons
    bad_records: list[MalformedRecord] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bad(self, why: str, *, where: str | None = None, index: int | None = None) -> None:
        """Count a malformed record (``where`` names its file or page)."""
        with self._lock:
            self.malformed += 1
            if len(self.examples) < 3:
                self.examples.append(f"{where}[{index}]: {why}" if index is not None and where
                                     else f"{where}: {why}" if where else why)
            if len(self.bad_records) < MAX_NAMED_MALFORMED:
                self.bad_records.append(MalformedRecord(where or "-", index, why))

    def unreadable_file(self, name: str, why: str) -> None:
        """Count a file that could not be read, inflated or parsed."""
        with self._lock:
            self.malformed += 1
            self.unreadable.append(name)
            if len(self.examples) < 3:
                self.examples.append(f"{name}: {why}")

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def parse_time(value: Any) -> datetime | None:
    """CloudTrail's ``eventTime`` (ISO 8601, ``Z``); aware UTC, or None when unusable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_issuance(record: Any) -> bool:
    """True for a record of one of the six STS calls that issue credentials."""
    if not isinstance(record, dict):
        return False
    name = record.get("eventName")
    if not isinstance(name, str) or name not in ISSUANCE_EVENTS:
        return False
    source = record.get("eventSource")
    return source is None or source == EVENT_SOURCE


@dataclass(frozen=True, slots=True)
class RecordFields:
    """The scalar fields of one record that the audit uses, however they were decoded."""

    name: str
    event_id: str | None
    shared_id: str | None
    time: str | None
    account: str | None
    region: str | None
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    principal_type: str | None
    principal_id: str | None
    caller_arn: str | None
    caller_name: str | None
    invoked_by: str | None
    chained: str | None
    caller_role_arn: str | None
    role_arn: str | None
    session_name: str | None
    own: str | None
    echoed: str | None


def fields_of(record: dict[str, Any]) -> RecordFields:
    """Read the audited fields of a record dict, treating any mistyped value as absent."""
    caller = _dict(record.get("userIdentity"))
    context = _dict(caller.get("sessionContext"))
    req = _dict(record.get("requestParameters"))
    resp = _dict(record.get("responseElements"))
    return RecordFields(
        name=str(record.get("eventName")), event_id=_str(record.get("eventID")),
        shared_id=_str(record.get("sharedEventID")), time=_str(record.get("eventTime")),
        account=_str(record.get("recipientAccountId")), region=_str(record.get("awsRegion")),
        source_ip=_str(record.get("sourceIPAddress")), user_agent=_str(record.get("userAgent")),
        error_code=_str(record.get("errorCode")), principal_type=_str(caller.get("type")),
        principal_id=_str(caller.get("principalId")), caller_arn=_str(caller.get("arn")),
        caller_name=_str(caller.get("userName")), invoked_by=_str(caller.get("invokedBy")),
        chained=_str(context.get("sourceIdentity")),
        caller_role_arn=_str(_dict(context.get("sessionIssuer")).get("arn")),
        role_arn=_str(req.get("roleArn")),
        session_name=_str(req.get("roleSessionName")) or _str(req.get("name")),
        own=_str(req.get("sourceIdentity")), echoed=_str(resp.get("sourceIdentity")),
    )


def build_event(
    f: RecordFields, stats: ParseStats, *, where: str | None = None, index: int | None = None,
    fallback_id: str | None = None, fallback_time: datetime | None = None,
) -> IssuanceEvent | None:
    """The :class:`IssuanceEvent` of one record's fields; None (counted) when malformed."""
    event_id = f.event_id or fallback_id
    event_time = parse_time(f.time) or fallback_time
    failed = f.error_code is not None
    role_arn = f.role_arn
    missing = [n for n, v in (("eventID", event_id), ("eventTime", event_time)) if v is None]
    # A successful role call names its role; a failed one issued nothing and may name nothing.
    if role_arn is None and not failed and f.name in ROLE_EVENTS:
        missing.append("requestParameters.roleArn")
    if missing or event_id is None or event_time is None:
        stats.bad(f"{f.name} record without a valid {', '.join(missing)}", where=where,
                  index=index)
        return None
    own: str | None = None
    if f.name not in NO_SOURCE_IDENTITY_PARAMETER:
        own = f.own
        if own is None:
            # The response echoes the new session's value, which for a chained session is the
            # inherited one: only count it as the request's own when it differs from that.
            own = f.echoed if f.echoed != f.chained else None
    return IssuanceEvent(
        event_id=event_id, event_name=f.name, event_time=event_time,
        dedup_key=f.shared_id or event_id, role_arn=role_arn, role_session_name=f.session_name,
        source_identity=own, chained_source_identity=f.chained,
        caller_role_arn=f.caller_role_arn, caller_arn=f.caller_arn, caller_name=f.caller_name,
        principal_id=f.principal_id, principal_type=f.principal_type, invoked_by=f.invoked_by,
        source_ip=f.source_ip, user_agent=f.user_agent, region=f.region,
        accounts=(f.account,) if f.account else (), error_code=f.error_code,
    )


def parse_record(
    record: Any, stats: ParseStats, *, where: str | None = None, index: int | None = None,
    fallback_id: str | None = None, fallback_time: datetime | None = None,
) -> IssuanceEvent | None:
    """An :class:`IssuanceEvent` from one CloudTrail record dict; None if it is not one.

    ``fallback_*`` come from the LookupEvents envelope, used when the inner JSON lacks them.
    """
    if not is_issuance(record):
        if not isinstance(record, dict):
            stats.bad(f"record is a {type(record).__name__}, not an object", where=where,
                      index=index)
        return None
    return build_event(fields_of(record), stats, where=where, index=index,
                       fallback_id=fallback_id, fallback_time=fallback_time)
