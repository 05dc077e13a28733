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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

EVENT_SOURCE = "sts.amazonaws.com"
ASSUME_ROLE = "AssumeRole"
ISSUANCE_EVENTS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
        "AssumeRoot",
    }
)
# Calls whose request has no SourceIdentity parameter: whatever they issue is outside Sentinel.
NO_SOURCE_IDENTITY_PARAMETER = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRoot"})
# Calls that name the role they issue for in requestParameters.roleArn.
ROLE_EVENTS = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
MAX_NAMED_MALFORMED = 1000  # malformed records named in a report; all are counted


class IssuanceEvent(msgspec.Struct, frozen=True, gc=False):
    """One STS credential-issuing call recorded by CloudTrail (an immutable value).

    A msgspec Struct rather than a dataclass: an audit builds one per record, millions per
    run, and a Struct is built several times faster than a frozen dataclass.
    """

    event_id: str
    event_name: str
    event_time: datetime
    dedup_key: str  # "s:" + sharedEventID when present, else "e:" + eventID
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
        return msgspec.structs.replace(self, accounts=accounts)


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
                self.examples.append(
                    f"{where}[{index}]: {why}"
                    if index is not None and where
                    else f"{where}: {why}"
                    if where
                    else why
                )
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


# --- the record's shape ---------------------------------------------------------------------
# Only the fields the audit reads, in CloudTrail's camelCase. msgspec decodes log files straight
# into these (skipping everything else); :func:`record_of` builds them from a dict.


class EventIssuer(msgspec.Struct, gc=False):
    arn: str | None = None


class EventContext(msgspec.Struct, gc=False):
    sourceIdentity: str | None = None
    sessionIssuer: EventIssuer | None = None


class EventCaller(msgspec.Struct, gc=False):
    type: str | None = None
    principalId: str | None = None
    arn: str | None = None
    userName: str | None = None
    invokedBy: str | None = None
    sessionContext: EventContext | None = None


class EventRequest(msgspec.Struct, gc=False):
    roleArn: str | None = None
    roleSessionName: str | None = None
    name: str | None = None  # GetFederationToken's federated user name
    sourceIdentity: str | None = None


class EventResponse(msgspec.Struct, gc=False):
    sourceIdentity: str | None = None


class Record(msgspec.Struct, gc=False):
    eventName: str | None = None
    eventSource: str | None = None
    eventTime: str | None = None
    eventID: str | None = None
    sharedEventID: str | None = None
    recipientAccountId: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    userIdentity: EventCaller | None = None
    requestParameters: EventRequest | None = None
    responseElements: EventResponse | None = None


_NO_CALLER = EventCaller()
_NO_CONTEXT = EventContext()
_NO_ISSUER = EventIssuer()
_NO_REQUEST = EventRequest()
_NO_RESPONSE = EventResponse()


def record_of(d: dict[str, Any]) -> Record:
    """The :class:`Record` of a dict, treating any mistyped value as absent."""
    caller = _dict(d.get("userIdentity"))
    context = _dict(caller.get("sessionContext"))
    req = _dict(d.get("requestParameters"))
    return Record(
        eventName=_str(d.get("eventName")),
        eventSource=_str(d.get("eventSource")),
        eventTime=_str(d.get("eventTime")),
        eventID=_str(d.get("eventID")),
        sharedEventID=_str(d.get("sharedEventID")),
        recipientAccountId=_str(d.get("recipientAccountId")),
        awsRegion=_str(d.get("awsRegion")),
        sourceIPAddress=_str(d.get("sourceIPAddress")),
        userAgent=_str(d.get("userAgent")),
        errorCode=_str(d.get("errorCode")),
        userIdentity=EventCaller(
            type=_str(caller.get("type")),
            principalId=_str(caller.get("principalId")),
            arn=_str(caller.get("arn")),
            userName=_str(caller.get("userName")),
            invokedBy=_str(caller.get("invokedBy")),
            sessionContext=EventContext(
                sourceIdentity=_str(context.get("sourceIdentity")),
                sessionIssuer=EventIssuer(arn=_str(_dict(context.get("sessionIssuer")).get("arn"))),
            ),
        ),
        requestParameters=EventRequest(
            roleArn=_str(req.get("roleArn")),
            roleSessionName=_str(req.get("roleSessionName")),
            name=_str(req.get("name")),
            sourceIdentity=_str(req.get("sourceIdentity")),
        ),
        responseElements=EventResponse(
            sourceIdentity=_str(_dict(d.get("responseElements")).get("sourceIdentity"))
        ),
    )


def build_event(
    r: Record,
    stats: ParseStats,
    *,
    where: str | None = None,
    index: int | None = None,
    fallback_id: str | None = None,
    fallback_time: datetime | None = None,
) -> IssuanceEvent | None:
    """The :class:`IssuanceEvent` of one issuance record; None (counted) when malformed.

    Empty strings count as absent, like missing fields.
    """
    name = r.eventName or ""
    event_id = r.eventID or fallback_id
    event_time = fallback_time
    if r.eventTime:  # parse_time, inline: this runs once per record
        try:
            at = datetime.fromisoformat(r.eventTime)
        except ValueError:
            pass
        else:
            event_time = at if at.tzinfo else at.replace(tzinfo=UTC)
    error_code = r.errorCode or None
    req = r.requestParameters or _NO_REQUEST
    role_arn = req.roleArn or None
    missing = []
    if event_id is None:
        missing.append("eventID")
    if event_time is None:
        missing.append("eventTime")
    # A successful role call names its role; a failed one issued nothing and may not.
    if role_arn is None and error_code is None and name in ROLE_EVENTS:
        missing.append("requestParameters.roleArn")
    if missing or event_id is None or event_time is None:
        stats.bad(f"{name} record without a valid {', '.join(missing)}", where=where, index=index)
        return None
    caller = r.userIdentity or _NO_CALLER
    context = caller.sessionContext or _NO_CONTEXT
    chained = context.sourceIdentity or None
    own: str | None = None
    if name not in NO_SOURCE_IDENTITY_PARAMETER:
        own = req.sourceIdentity or None
        if own is None:
            # The response echoes the new session's value, which for a chained session is the
            # inherited one: only count it as the request's own when it differs from that.
            echoed = (r.responseElements or _NO_RESPONSE).sourceIdentity or None
            own = echoed if echoed != chained else None
    account = r.recipientAccountId
    return IssuanceEvent(
        event_id,
        name,
        event_time,
        f"s:{r.sharedEventID}" if r.sharedEventID else f"e:{event_id}",
        role_arn,
        req.roleSessionName or req.name or None,
        own,
        chained,
        (context.sessionIssuer or _NO_ISSUER).arn or None,
        caller.arn or None,
        caller.userName or None,
        caller.principalId or None,
        caller.type or None,
        caller.invokedBy or None,
        r.sourceIPAddress or None,
        r.userAgent or None,
        r.awsRegion or None,
        (account,) if account else (),
        error_code,
    )


def parse_record(
    record: Any,
    stats: ParseStats,
    *,
    where: str | None = None,
    index: int | None = None,
    fallback_id: str | None = None,
    fallback_time: datetime | None = None,
) -> IssuanceEvent | None:
    """An :class:`IssuanceEvent` from one CloudTrail record dict; None if it is not one.

    ``fallback_*`` come from the LookupEvents envelope, used when the inner JSON lacks them.
    """
    if not is_issuance(record):
        if not isinstance(record, dict):
            stats.bad(
                f"record is a {type(record).__name__}, not an object", where=where, index=index
            )
        return None
    return build_event(
        record_of(record),
        stats,
        where=where,
        index=index,
        fallback_id=fallback_id,
        fallback_time=fallback_time,
    )
