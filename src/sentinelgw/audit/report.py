"""Audit reports as data, and their JSON and CSV renderings (human ones: ``render``).

``untracked_events`` counts the gaps: every event whose category is a gap (replayed, orphaned,
non_sentinel_format, no_source_identity, and aws_service when asked for). ``orphaned_events``
is the orphaned part of it. ``counts`` gives every category, failed and aws_service included.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.audit.classify import Category, ClassifiedEvent
from sentinelgw.audit.events import IssuanceEvent, MalformedRecord
from sentinelgw.audit.window import Window
from sentinelgw.inert import CsvWriter
from sentinelgw.timeutil import iso

EVENT_FIELDS = (
    "event_id",
    "event_name",
    "event_time",
    "category",
    "gap",
    "caller_arn",
    "principal_type",
    "invoked_by",
    "role_arn",
    "role_session_name",
    "source_identity",
    "account",
    "region",
    "source_ip",
    "user_agent",
    "error_code",
    "session_id",
    "profile",
    "reason",
    "count",
    "request_id",
)
COMPLIANCE_FIELDS = ("profile", "required", "tracked", "untracked", "compliance", "gap")
Accounts = Callable[[IssuanceEvent], tuple[str, ...]]


def _accounts_of(event: IssuanceEvent) -> tuple[str, ...]:
    return event.accounts


@dataclass(frozen=True, slots=True)
class EventItem:
    """One audited event as reported: the fields of :data:`EVENT_FIELDS`, None when absent."""

    event_id: str
    event_name: str
    event_time: str
    category: str
    gap: bool
    caller_arn: str | None
    principal_type: str | None
    invoked_by: str | None
    role_arn: str | None
    role_session_name: str | None
    source_identity: str | None
    account: str | None  # several accounts (a cross-account pair) joined by ","
    region: str | None
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    session_id: str | None
    profile: str | None
    reason: str
    who: str  # for the human rendering only
    count: int = 1  # events this item stands for (an aggregated Athena row: more than 1)
    request_id: str | None = None  # the access request of a session under require_approval

    @classmethod
    def of(cls, ce: ClassifiedEvent, accounts: Accounts = _accounts_of) -> EventItem:
        ev = ce.event
        return cls(
            event_id=ev.event_id,
            event_name=ev.event_name,
            event_time=iso(ev.event_time) or "",
            category=str(ce.category),
            gap=ce.gap,
            caller_arn=ev.caller_arn,
            principal_type=ev.principal_type,
            invoked_by=ev.invoked_by,
            role_arn=ev.role_arn,
            role_session_name=ev.role_session_name,
            source_identity=ev.effective_source_identity,
            account=",".join(accounts(ev)) or None,
            region=ev.region,
            source_ip=ev.source_ip,
            user_agent=ev.user_agent,
            error_code=ev.error_code,
            session_id=ce.session_id,
            profile=ce.profile,
            reason=ce.reason,
            who=ev.who,
            count=ev.count,
            request_id=ce.request_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EVENT_FIELDS}


def empty_counts() -> dict[str, int]:
    return {str(c): 0 for c in Category}


@dataclass(frozen=True, slots=True)
class UntrackedReport:
    """The result of ``sentinel audit untracked-sessions``."""

    start_time: str
    end_time: str
    total_events: int
    tracked_events: int
    untracked_events: int
    orphaned_events: int
    untracked_sessions: tuple[EventItem, ...]
    counts: dict[str, int] = field(default_factory=empty_counts)
    unreadable: tuple[str, ...] = ()
    malformed: tuple[MalformedRecord, ...] = ()
    events: tuple[EventItem, ...] | None = None  # every event, with --all
    # --required-only: the untracked events on profiles whose rule requires tracking
    required_untracked_events: int | None = None

    @property
    def failing_events(self) -> int:
        """What the exit code counts: every gap, or with --required-only the required ones."""
        if self.required_untracked_events is not None:
            return self.required_untracked_events
        return self.untracked_events

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "start_time": self.start_time,
            "end_time": self.end_time,
            "total_events": self.total_events,
            "tracked_events": self.tracked_events,
            "untracked_events": self.untracked_events,
            "orphaned_events": self.orphaned_events,
            "untracked_sessions": [i.to_json() for i in self.untracked_sessions],
            "counts": dict(self.counts),
            "unreadable": list(self.unreadable),
            "malformed": [m.to_json() for m in self.malformed],
        }
        if self.required_untracked_events is not None:
            doc["required_untracked_events"] = self.required_untracked_events
        if self.events is not None:
            doc["events"] = [i.to_json() for i in self.events]
        return doc


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    """Tracking coverage of one profile (or unmapped role ARN)."""

    profile: str
    required: bool
    tracked: int
    untracked: int
    # Access requests whose sessions were seen tracked (require_approval profiles).
    requests: tuple[str, ...] = ()

    @property
    def compliance(self) -> float:
        total = self.tracked + self.untracked
        return 100.0 if total == 0 else round(100.0 * self.tracked / total, 2)

    @property
    def gap(self) -> bool:
        return self.required and self.untracked > 0

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "profile": self.profile,
            "required": self.required,
            "tracked": self.tracked,
            "untracked": self.untracked,
            "compliance": self.compliance,
            "gap": self.gap,
        }
        if self.requests:  # only rows with sessions under access requests
            doc["requests"] = list(self.requests)
        return doc


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    """The result of ``sentinel audit session-compliance``.

    The totals count distinct events: an untracked event of a role that several profiles
    name appears in each of their rows, but once in the totals. Failed calls and (unless they
    are gaps) AWS-service calls count in ``total_events`` and ``counts`` only.
    """

    start_time: str
    end_time: str
    rows: tuple[ComplianceRow, ...]
    total_events: int
    tracked_events: int
    untracked_events: int = 0
    counts: dict[str, int] = field(default_factory=empty_counts)
    unreadable: tuple[str, ...] = ()

    @property
    def gaps(self) -> list[str]:
        return [r.profile for r in self.rows if r.gap]

    def summary(self) -> dict[str, Any]:
        tracked, untracked = self.tracked_events, self.untracked_events
        audited = tracked + untracked
        return {
            "profiles": len(self.rows),
            "required_profiles": sum(1 for r in self.rows if r.required),
            "total_events": self.total_events,
            "tracked_events": tracked,
            "untracked_events": untracked,
            "compliance": 100.0 if audited == 0 else round(100.0 * tracked / audited, 2),
            "gaps": self.gaps,
            "compliant": not self.gaps,
            "counts": dict(self.counts),
            "unreadable": list(self.unreadable),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "start_time": self.start_time,
            "end_time": self.end_time,
            "profiles": [r.to_json() for r in self.rows],
            "summary": self.summary(),
        }


def build_untracked(
    events: Iterable[ClassifiedEvent],
    window: Window,
    *,
    accounts: Accounts = _accounts_of,
    keep_all: bool = False,
    unreadable: Sequence[str] = (),
    malformed: Sequence[MalformedRecord] = (),
    required: Callable[[str], bool] | None = None,
) -> UntrackedReport:
    """Count every event by category and keep the gaps (every event with ``keep_all``).

    With ``required`` (``--required-only``), also count the gaps on a profile whose rule
    requires tracking: a gap is attributed to profiles as :func:`build_compliance` does, so
    the two audits agree on which gaps matter.
    """
    counts = empty_counts()
    kept: list[ClassifiedEvent] = []
    required_gaps = 0
    for ce in events:
        counts[ce.category] += ce.event.count
        if ce.gap or keep_all:
            kept.append(ce)
        if ce.gap and required is not None and any(map(required, gap_rows(ce))):
            required_gaps += ce.event.count
    # Items are built at the end: by then every copy of a cross-account pair has been seen.
    items = sorted(
        (EventItem.of(ce, accounts) for ce in kept), key=lambda i: (i.event_time, i.event_id)
    )
    gaps = tuple(i for i in items if i.gap)
    return UntrackedReport(
        iso(window.start) or "",
        iso(window.end) or "",
        sum(counts.values()),
        counts[Category.TRACKED],
        sum(i.count for i in gaps),
        counts[Category.ORPHANED],
        gaps,
        counts,
        tuple(unreadable),
        tuple(malformed),
        tuple(items) if keep_all else None,
        None if required is None else required_gaps,
    )


def gap_rows(ce: ClassifiedEvent) -> tuple[str, ...]:
    """The compliance rows a gap counts in: every profile whose ``role_arn`` names its role,
    else the role ARN, else (a call without a role, such as GetSessionToken) its caller."""
    return tuple(ce.profiles) or (ce.profile or ce.event.who,)


def build_compliance(
    events: Iterable[ClassifiedEvent],
    window: Window,
    required: Callable[[str], bool],
    also: Iterable[str] = (),
    only: str | None = None,
    unreadable: Sequence[str] = (),
) -> ComplianceReport:
    """One row per profile; ``also`` lists profiles shown even without events.

    A tracked event counts for its session record's profile. A gap counts for every profile
    whose ``role_arn`` names its role (we cannot know which one the caller used, and it
    bypassed tracking for each), else for the role ARN itself, else (a call without a role,
    such as GetSessionToken) for its caller. Events that are not gaps and not tracked (failed,
    aws_service) count in no row. ``only`` keeps just that profile's row.
    """
    rows: dict[str, list[int]] = {name: [0, 0] for name in also}
    under: dict[str, set[str]] = {}
    counts = empty_counts()
    gaps = 0
    for ce in events:
        n = ce.event.count
        counts[ce.category] += n
        if ce.tracked:
            rows.setdefault(ce.profile or ce.event.who, [0, 0])[0] += n
            if ce.request_id:
                under.setdefault(ce.profile or ce.event.who, set()).add(ce.request_id)
        elif ce.gap:
            gaps += n
            for name in gap_rows(ce):
                rows.setdefault(name, [0, 0])[1] += n
    if only is not None:
        rows = {only: rows.get(only, [0, 0])}
    table = tuple(
        ComplianceRow(name, required(name), c[0], c[1], tuple(sorted(under.get(name, ()))))
        for name, c in sorted(rows.items())
    )
    return ComplianceReport(
        iso(window.start) or "",
        iso(window.end) or "",
        table,
        sum(counts.values()),
        counts[Category.TRACKED],
        gaps,
        counts,
        tuple(unreadable),
    )


# --- renderings -----------------------------------------------------------------------------


def to_json_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False)


def events_csv(items: Iterable[EventItem]) -> str:
    """One row per event with the :data:`EVENT_FIELDS`; empty cells for null. Values from
    CloudTrail are hostile: cells are formula-safe and any CR/LF inside one is quoted."""
    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.header(EVENT_FIELDS)
    for item in items:
        writer.row(_cell(getattr(item, name)) for name in EVENT_FIELDS)
    return buf.getvalue()


def _cell(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def compliance_csv(report: ComplianceReport) -> str:
    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.header(COMPLIANCE_FIELDS)
    for r in report.rows:
        d = r.to_json()
        writer.row(_cell(d[f]) for f in COMPLIANCE_FIELDS)
    return buf.getvalue()
