"""What a session did: every API call made with a session's credentials, from CloudTrail.

A Sentinel session is known by two things CloudTrail writes into every call it makes:

- ``userIdentity.accessKeyId``: the access key ids the session was issued, which its record
  keeps (``access_key_ids``, written where the credentials are issued);
- ``userIdentity.sessionContext.sourceIdentity``: the session's unique SourceIdentity, which
  STS carries into every session chained from it, so calls made with a chained session's
  credentials name it too.

An event is attributed to a session as ``session`` (one of its own keys, or, for a record that
kept no keys, its SourceIdentity with its own role), ``chained`` (its SourceIdentity, another
key: a role assumed with its credentials) or ``issued`` (the AssumeRole call that issued the
session's credentials, made by the user's own identity with its SourceIdentity). The core takes
several session ids at once (:func:`session_targets`), so anything that maps to sessions (an
access request, a break-glass grant) can ask for the activity of all of them.

The file sources (a folder or S3) run the audit's readers with :func:`decode_activity`: a file
that names none of the sessions' keys or SourceIdentities is skipped after a byte search, and
the others are decoded with msgspec into structs holding only the fields reported. Every field
comes from CloudTrail and is hostile: renderings use :mod:`sentinelgw.inert`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from sentinelgw.audit.activity_targets import (  # re-exported: their home was here
    AFTER_END,
    BEFORE_START,
    SessionTarget,
    default_window,
    no_keys_warning,
    session_targets,
)
from sentinelgw.audit.decode import Unreadable, validate_log
from sentinelgw.audit.events import ParseStats, parse_time
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    pass

KINDS = ("session", "chained", "issued")
ISSUING = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})

EVENT_FIELDS = (
    "session_id",
    "kind",
    "event_time",
    "service",
    "action",
    "resources",
    "error_code",
    "source_ip",
    "user_agent",
    "access_key_id",
    "caller_arn",
    "region",
    "account",
    "event_id",
)


# --- the record's shape, as far as the report reads it ------------------------------------


class _Issuer(msgspec.Struct, gc=False):
    arn: str | None = None


class _Context(msgspec.Struct, gc=False):
    sourceIdentity: str | None = None
    sessionIssuer: _Issuer | None = None


class _Caller(msgspec.Struct, gc=False):
    type: str | None = None
    arn: str | None = None
    accessKeyId: str | None = None
    sessionContext: _Context | None = None


class _Resource(msgspec.Struct, gc=False):
    ARN: str | None = None


class _Request(msgspec.Struct, gc=False):
    sourceIdentity: str | None = None


class _Credentials(msgspec.Struct, gc=False):
    accessKeyId: str | None = None


class _Response(msgspec.Struct, gc=False):
    credentials: _Credentials | None = None


class ActivityRecord(msgspec.Struct, gc=False):
    eventID: str | None = None
    sharedEventID: str | None = None
    eventTime: str | None = None
    eventSource: str | None = None
    eventName: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    recipientAccountId: str | None = None
    userIdentity: _Caller | None = None
    resources: list[_Resource] | None = None
    requestParameters: _Request | None = None
    responseElements: _Response | None = None


class _Log(msgspec.Struct):
    Records: list[ActivityRecord]


class _RawLog(msgspec.Struct):
    Records: list[msgspec.Raw]


_LOG = msgspec.json.Decoder(_Log)
_RAW_LOG = msgspec.json.Decoder(_RawLog)
_RECORD = msgspec.json.Decoder(ActivityRecord)
_ANY = msgspec.json.Decoder()
_NO_CALLER = _Caller()
_NO_CONTEXT = _Context()


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def record_from_dict(d: dict[str, Any]) -> ActivityRecord:
    """The record of a plain dict, any mistyped value read as absent."""
    who = _d(d.get("userIdentity"))
    ctx = _d(who.get("sessionContext"))
    resources = d.get("resources")
    return ActivityRecord(
        eventID=_s(d.get("eventID")),
        sharedEventID=_s(d.get("sharedEventID")),
        eventTime=_s(d.get("eventTime")),
        eventSource=_s(d.get("eventSource")),
        eventName=_s(d.get("eventName")),
        awsRegion=_s(d.get("awsRegion")),
        sourceIPAddress=_s(d.get("sourceIPAddress")),
        userAgent=_s(d.get("userAgent")),
        errorCode=_s(d.get("errorCode")),
        recipientAccountId=_s(d.get("recipientAccountId")),
        userIdentity=_Caller(
            type=_s(who.get("type")),
            arn=_s(who.get("arn")),
            accessKeyId=_s(who.get("accessKeyId")),
            sessionContext=_Context(
                sourceIdentity=_s(ctx.get("sourceIdentity")),
                sessionIssuer=_Issuer(arn=_s(_d(ctx.get("sessionIssuer")).get("arn"))),
            ),
        ),
        resources=[
            _Resource(ARN=_s(_d(r).get("ARN")))
            for r in (resources if isinstance(resources, list) else [])
        ],
        requestParameters=_Request(
            sourceIdentity=_s(_d(d.get("requestParameters")).get("sourceIdentity"))
        ),
        responseElements=_Response(
            credentials=_Credentials(
                accessKeyId=_s(
                    _d(_d(d.get("responseElements")).get("credentials")).get("accessKeyId")
                )
            )
        ),
    )


# --- one event of the report --------------------------------------------------------------


class ActivityEvent(msgspec.Struct, frozen=True, gc=False):
    """One API call attributed to a session."""

    session_id: str
    kind: str  # "session" | "chained" | "issued"
    event_id: str
    dedup_key: str
    event_time: datetime
    service: str | None  # eventSource, e.g. s3.amazonaws.com
    action: str | None  # eventName
    resources: tuple[str, ...]  # resources[].ARN, where CloudTrail names them
    error_code: str | None
    source_ip: str | None
    user_agent: str | None
    access_key_id: str | None
    caller_arn: str | None
    caller_role_arn: str | None
    region: str | None
    account: str | None
    # For a successful AssumeRole: the key it issued (a chained session LookupEvents follows).
    issued_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "kind": self.kind,
            "event_time": iso(self.event_time),
            "service": self.service,
            "action": self.action,
            "resources": list(self.resources),
            "error_code": self.error_code,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "access_key_id": self.access_key_id,
            "caller_arn": self.caller_arn,
            "caller_role_arn": self.caller_role_arn,
            "region": self.region,
            "account": self.account,
            "event_id": self.event_id,
        }

    def row(self) -> list[Any]:
        d = self.to_json()
        d["resources"] = " ".join(self.resources)
        return [d[name] for name in EVENT_FIELDS]


class Matcher:
    """Attributes records to the sessions; also the byte needles that pre-filter files."""

    def __init__(self, targets: Sequence[SessionTarget]) -> None:
        self.targets = {t.id: t for t in targets}
        self.by_key: dict[str, str] = {}
        for t in targets:
            for key in t.access_key_ids:
                self.by_key.setdefault(key, t.id)
        self.by_si = {t.source_identity: t.id for t in targets if t.source_identity}
        words = {*self.by_key, *self.by_si}
        # A file naming none of these (and holding no JSON escape that could spell one) holds
        # nothing of the sessions: it is validated, not decoded.
        self.needles = tuple(w.encode() for w in sorted(words)) + (b"\\u",)

    def follow(self, key: str, session_id: str) -> None:
        """A key issued to a session chained from ``session_id`` (LookupEvents follows it)."""
        self.by_key.setdefault(key, session_id)

    def match(self, r: ActivityRecord, stats: ParseStats, where: str) -> ActivityEvent | None:
        who = r.userIdentity or _NO_CALLER
        ctx = who.sessionContext or _NO_CONTEXT
        key = who.accessKeyId
        kind: str
        sid: str | None = self.by_key.get(key) if key else None
        if sid is not None:
            target = self.targets.get(sid)
            kind = "session" if target is not None and key in target.access_key_ids else "chained"
        elif ctx.sourceIdentity and ctx.sourceIdentity in self.by_si:
            sid = self.by_si[ctx.sourceIdentity]
            target = self.targets[sid]
            issuer = (ctx.sessionIssuer or _Issuer()).arn
            own = not target.access_key_ids and issuer == target.role_arn
            kind = "session" if own else "chained"
        else:
            req = r.requestParameters
            asked = req.sourceIdentity if req is not None else None
            if not asked or asked not in self.by_si or r.eventName not in ISSUING:
                return None
            sid, kind = self.by_si[asked], "issued"
        event_time = parse_time(r.eventTime)
        event_id = r.eventID
        if event_time is None or event_id is None:
            stats.bad("record without a valid eventID and eventTime", where=where)
            return None
        creds = (r.responseElements or _Response()).credentials
        issued = creds.accessKeyId if creds is not None and not r.errorCode else None
        return ActivityEvent(
            sid,
            kind,
            event_id,
            f"s:{r.sharedEventID}" if r.sharedEventID else f"e:{event_id}",
            event_time,
            r.eventSource,
            r.eventName,
            tuple(x.ARN for x in (r.resources or ()) if x.ARN),
            r.errorCode,
            r.sourceIPAddress,
            r.userAgent,
            key,
            who.arn,
            (ctx.sessionIssuer or _Issuer()).arn,
            r.awsRegion,
            r.recipientAccountId,
            issued if r.eventName in ISSUING else None,
        )

    # -- decoding ------------------------------------------------------------------------

    def decode_whole(self, data: bytes, where: str, stats: ParseStats) -> list[ActivityEvent]:
        """The sessions' events of one whole log file; raises :class:`Unreadable`."""
        if not any(n in data for n in self.needles):
            validate_log(data)
            stats.add(files=1, files_skipped=1)
            return []
        try:
            doc = _LOG.decode(data)
        except msgspec.ValidationError:
            return self._careful(data, where, stats)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise Unreadable(f"not valid JSON ({_short(exc)})") from None
        stats.add(files=1)
        out = []
        for r in doc.Records:
            event = self.match(r, stats, where)
            if event is not None:
                out.append(event)
        stats.add(records=len(out))
        return out

    def _careful(self, data: bytes, where: str, stats: ParseStats) -> list[ActivityEvent]:
        try:
            doc = _RAW_LOG.decode(data)
        except msgspec.ValidationError:
            raise Unreadable("no 'Records' list") from None
        except (msgspec.DecodeError, RecursionError) as exc:
            raise Unreadable(f"not valid JSON ({_short(exc)})") from None
        stats.add(files=1)
        out = []
        for index, raw in enumerate(doc.Records):
            event = self.decode_record(raw, stats, where=where, index=index)
            if event is not None:
                stats.add(records=1)
                out.append(event)
        return out

    def decode_record(
        self, raw: bytes | str, stats: ParseStats, *, where: str, index: int | None = None
    ) -> ActivityEvent | None:
        """One record's JSON text; a record of an unexpected shape is read field by field."""
        try:
            return self.match(_RECORD.decode(raw), stats, where)
        except msgspec.ValidationError:
            pass
        except (msgspec.DecodeError, RecursionError):
            stats.bad("not valid JSON", where=where, index=index)
            return None
        try:
            value = _ANY.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            stats.bad("not valid JSON", where=where, index=index)
            return None
        return self.parse(value, stats, where=where, index=index)

    def parse(
        self, value: Any, stats: ParseStats, *, where: str | None = None, index: int | None = None
    ) -> ActivityEvent | None:
        """One decoded record (a dict) of a streamed file, or of an Athena row."""
        if not isinstance(value, dict):
            stats.bad(
                f"record is a {type(value).__name__}, not an object", where=where, index=index
            )
            return None
        return self.match(record_from_dict(value), stats, where or "records")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


# --- the report ---------------------------------------------------------------------------


@dataclass
class ActivityReport:
    sessions: list[SessionTarget]
    start: datetime
    end: datetime
    source: str
    events: list[ActivityEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreadable: tuple[str, ...] = ()

    def counts(self) -> dict[str, Any]:
        by_kind = {k: 0 for k in KINDS}
        errors = 0
        for e in self.events:
            by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
            errors += e.error_code is not None
        return {"events": len(self.events), **by_kind, "errors": errors}

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": [t.to_json() for t in self.sessions],
            "window": {"start": iso(self.start), "end": iso(self.end)},
            "source": self.source,
            "counts": self.counts(),
            "warnings": list(self.warnings),
            "unreadable_files": list(self.unreadable),
            "events": [e.to_json() for e in self.events],
        }


def collect(events: Iterable[ActivityEvent]) -> list[ActivityEvent]:
    """Each event once (by sharedEventID, else eventID), oldest first.

    CloudTrail's times are to the second; events of the same second keep the order the source
    gave them (a log file's order, LookupEvents' per key).
    """
    seen: set[str] = set()
    out = []
    for e in events:
        if e.dedup_key in seen:
            continue
        seen.add(e.dedup_key)
        out.append(e)
    out.sort(key=lambda e: e.event_time)
    return out


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


__all__ = [
    "AFTER_END",
    "BEFORE_START",
    "SessionTarget",
    "default_window",
    "no_keys_warning",
    "session_targets",
]
