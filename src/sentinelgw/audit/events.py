"""AssumeRole events as the audit sees them, parsed from CloudTrail's record shape.

In a CloudTrail AssumeRole record the *new* session's SourceIdentity is
``requestParameters.sourceIdentity`` (echoed in ``responseElements.sourceIdentity``), while
``userIdentity`` describes the *caller*. When the caller is itself a role session that carries a
SourceIdentity (role chaining), ``userIdentity.sessionContext.sourceIdentity`` holds it, and the
new session inherits it. Both are kept, separately, so a report can say where a value came from.

Records come from untrusted files and services, so parsing never raises: a record that is not
an AssumeRole event returns None, and one that is malformed is counted in :class:`ParseStats`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_NAME = "AssumeRole"
EVENT_SOURCE = "sts.amazonaws.com"


@dataclass(frozen=True, slots=True)
class AssumeRoleEvent:
    """One STS AssumeRole call recorded by CloudTrail."""

    event_id: str
    event_time: datetime
    role_arn: str
    role_session_name: str | None
    source_identity: str | None  # the request's own value
    chained_source_identity: str | None  # the caller's session value (role chaining)
    principal_id: str | None
    caller_arn: str | None
    source_ip: str | None
    user_agent: str | None
    region: str | None

    @property
    def effective_source_identity(self) -> str | None:
        """The SourceIdentity the new session carries: its own, else the inherited one."""
        return self.source_identity or self.chained_source_identity

    @property
    def inherited(self) -> bool:
        return not self.source_identity and bool(self.chained_source_identity)


@dataclass
class ParseStats:
    """Counters shared by the reader threads of one source; guarded by a lock."""

    records: int = 0  # records looked at (after the cheap pre-filter)
    events: int = 0  # AssumeRole events yielded
    malformed: int = 0  # records or files that could not be parsed, skipped
    files: int = 0  # log files read (file sources)
    files_skipped: int = 0  # files without any AssumeRole text, never parsed
    pages: int = 0  # LookupEvents pages
    throttled: int = 0  # LookupEvents throttling responses retried
    examples: list[str] = field(default_factory=list)  # first few malformed reasons
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bad(self, why: str) -> None:
        with self._lock:
            self.malformed += 1
            if len(self.examples) < 3:
                self.examples.append(why)

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
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_assume_role(record: Any) -> bool:
    """True for an STS AssumeRole record (not AssumeRoleWithSAML / WithWebIdentity)."""
    if not isinstance(record, dict) or record.get("eventName") != EVENT_NAME:
        return False
    source = record.get("eventSource")
    return source is None or source == EVENT_SOURCE


def parse_record(
    record: Any, stats: ParseStats, *, fallback_id: str | None = None,
    fallback_time: datetime | None = None,
) -> AssumeRoleEvent | None:
    """An :class:`AssumeRoleEvent` from one CloudTrail record; None if it is not one.

    ``fallback_*`` come from the LookupEvents envelope, used when the inner JSON lacks them.
    """
    if not is_assume_role(record):
        if not isinstance(record, dict):
            stats.bad(f"record is a {type(record).__name__}, not an object")
        return None
    event_id = _str(record.get("eventID")) or fallback_id
    event_time = parse_time(record.get("eventTime")) or fallback_time
    req = _dict(record.get("requestParameters"))
    resp = _dict(record.get("responseElements"))
    role_arn = _str(req.get("roleArn"))
    if event_id is None or event_time is None or role_arn is None:
        missing = [n for n, v in (("eventID", event_id), ("eventTime", event_time),
                                  ("requestParameters.roleArn", role_arn)) if v is None]
        stats.bad(f"AssumeRole record without a valid {', '.join(missing)}")
        return None
    caller = _dict(record.get("userIdentity"))
    context = _dict(caller.get("sessionContext"))
    chained = _str(context.get("sourceIdentity"))
    own = _str(req.get("sourceIdentity"))
    if own is None:
        # The response echoes the new session's value, which for a chained session is the
        # inherited one: only count it as the request's own when it differs from that.
        echoed = _str(resp.get("sourceIdentity"))
        own = echoed if echoed != chained else None
    return AssumeRoleEvent(
        event_id=event_id,
        event_time=event_time,
        role_arn=role_arn,
        role_session_name=_str(req.get("roleSessionName")),
        source_identity=own,
        chained_source_identity=chained,
        principal_id=_str(caller.get("principalId")),
        caller_arn=_str(caller.get("arn")),
        source_ip=_str(record.get("sourceIPAddress")),
        user_agent=_str(record.get("userAgent")),
        region=_str(record.get("awsRegion")),
    )
