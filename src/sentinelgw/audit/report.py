"""Audit reports as data, and their JSON, CSV and human renderings.

``untracked_events`` counts every event that is not tracked, orphaned ones included;
``orphaned_events`` is the orphaned subset of it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sentinelgw.audit.classify import Category, ClassifiedEvent
from sentinelgw.audit.sources import Window
from sentinelgw.timeutil import iso

UNTRACKED_FIELDS = ("event_id", "event_time", "role_arn", "profile", "principal_id", "source_ip",
                    "user_agent", "source_identity", "category", "reason")
COMPLIANCE_FIELDS = ("profile", "required", "tracked", "untracked", "compliance", "gap")


@dataclass(frozen=True, slots=True)
class UntrackedItem:
    """One AssumeRole event that bypassed session tracking."""

    event_id: str
    event_time: str
    role_arn: str
    profile: str
    principal_id: str | None
    source_ip: str | None
    user_agent: str | None
    source_identity: str | None
    category: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in UNTRACKED_FIELDS}


@dataclass(frozen=True, slots=True)
class UntrackedReport:
    """The result of ``sentinel audit untracked-sessions``."""

    start_time: str
    end_time: str
    total_events: int
    tracked_events: int
    untracked_events: int
    orphaned_events: int
    untracked_sessions: tuple[UntrackedItem, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start_time": self.start_time, "end_time": self.end_time,
            "total_events": self.total_events, "tracked_events": self.tracked_events,
            "untracked_events": self.untracked_events, "orphaned_events": self.orphaned_events,
            "untracked_sessions": [i.to_json() for i in self.untracked_sessions],
        }


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    """Tracking coverage of one profile (or unmapped role ARN)."""

    profile: str
    required: bool
    tracked: int
    untracked: int

    @property
    def compliance(self) -> float:
        total = self.tracked + self.untracked
        return 100.0 if total == 0 else round(100.0 * self.tracked / total, 2)

    @property
    def gap(self) -> bool:
        return self.required and self.untracked > 0

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "required": self.required, "tracked": self.tracked,
                "untracked": self.untracked, "compliance": self.compliance, "gap": self.gap}


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    """The result of ``sentinel audit session-compliance``.

    The totals count distinct events: an untracked event of a role that several profiles
    name appears in each of their rows, but once in the totals.
    """

    start_time: str
    end_time: str
    rows: tuple[ComplianceRow, ...]
    total_events: int
    tracked_events: int

    @property
    def gaps(self) -> list[str]:
        return [r.profile for r in self.rows if r.gap]

    def summary(self) -> dict[str, Any]:
        total, tracked = self.total_events, self.tracked_events
        return {
            "profiles": len(self.rows),
            "required_profiles": sum(1 for r in self.rows if r.required),
            "total_events": total,
            "tracked_events": tracked,
            "untracked_events": total - tracked,
            "compliance": 100.0 if total == 0 else round(100.0 * tracked / total, 2),
            "gaps": self.gaps,
            "compliant": not self.gaps,
        }

    def to_json(self) -> dict[str, Any]:
        return {"start_time": self.start_time, "end_time": self.end_time,
                "profiles": [r.to_json() for r in self.rows], "summary": self.summary()}


def build_untracked(events: Iterable[ClassifiedEvent], window: Window) -> UntrackedReport:
    total = tracked = orphaned = 0
    items: list[UntrackedItem] = []
    for ce in events:
        total += 1
        if ce.tracked:
            tracked += 1
            continue
        if ce.category is Category.ORPHANED:
            orphaned += 1
        ev = ce.event
        items.append(UntrackedItem(
            event_id=ev.event_id, event_time=iso(ev.event_time) or "", role_arn=ev.role_arn,
            profile=ce.profile, principal_id=ev.principal_id, source_ip=ev.source_ip,
            user_agent=ev.user_agent, source_identity=ev.effective_source_identity,
            category=str(ce.category), reason=ce.reason,
        ))
    items.sort(key=lambda i: (i.event_time, i.event_id))
    return UntrackedReport(iso(window.start) or "", iso(window.end) or "", total, tracked,
                           total - tracked, orphaned, tuple(items))


def build_compliance(
    events: Iterable[ClassifiedEvent],
    window: Window,
    required: Callable[[str], bool],
    also: Iterable[str] = (),
    only: str | None = None,
) -> ComplianceReport:
    """One row per profile; ``also`` lists profiles shown even without events.

    A tracked event counts for its session record's profile. An untracked one counts for every
    profile whose ``role_arn`` names its role (we cannot know which one the caller used, and it
    bypassed tracking for each), or for the role ARN itself when no profile names it.
    ``only`` keeps just that profile's row.
    """
    counts: dict[str, list[int]] = {name: [0, 0] for name in also}
    total = tracked = 0
    for ce in events:
        total += 1
        if ce.tracked:
            tracked += 1
            counts.setdefault(ce.profile, [0, 0])[0] += 1
            continue
        for name in ce.profiles or (ce.profile,):
            counts.setdefault(name, [0, 0])[1] += 1
    if only is not None:
        counts = {only: counts.get(only, [0, 0])}
    rows = tuple(ComplianceRow(name, required(name), c[0], c[1])
                 for name, c in sorted(counts.items()))
    return ComplianceReport(iso(window.start) or "", iso(window.end) or "", rows, total, tracked)


# --- renderings -----------------------------------------------------------------------------


def to_json_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False)


def compliance_csv(report: ComplianceReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COMPLIANCE_FIELDS)
    for r in report.rows:
        d = r.to_json()
        writer.writerow([str(d[f]).lower() if isinstance(d[f], bool) else d[f]
                         for f in COMPLIANCE_FIELDS])
    return buf.getvalue()


def _console(width: int) -> Any:
    from rich.console import Console

    return Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=False)


def untracked_human(report: UntrackedReport, width: int = 120) -> str:
    from rich.table import Table

    console = _console(width)
    if report.untracked_sessions:
        table = Table(show_lines=False, header_style="bold")
        for col in ("time", "category", "profile", "principal", "source identity", "source ip",
                    "reason"):
            # Identifiers stay on one line so they can be copied; the reason wraps.
            table.add_column(col, overflow="fold", no_wrap=col != "reason",
                             ratio=1 if col == "reason" else None)
        for i in report.untracked_sessions:
            table.add_row(i.event_time, i.category, i.profile, i.principal_id or "-",
                          i.source_identity or "-", i.source_ip or "-", i.reason)
        console.print(table)
    console.print(
        f"{report.total_events} AssumeRole events from {report.start_time} to {report.end_time}: "
        f"{report.tracked_events} tracked, {report.untracked_events} untracked "
        f"({report.orphaned_events} orphaned)."
        + ("" if report.untracked_events else " No untracked sessions."),
        soft_wrap=True,
    )
    return str(console.file.getvalue())


def compliance_human(report: ComplianceReport, width: int = 120) -> str:
    from rich.table import Table

    console = _console(width)
    table = Table(header_style="bold")
    for col, justify in (("profile", "left"), ("required", "left"), ("tracked", "right"),
                         ("untracked", "right"), ("compliance", "right"), ("gap", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in report.rows:
        table.add_row(r.profile, "yes" if r.required else "no", str(r.tracked), str(r.untracked),
                      f"{r.compliance:.1f}%", "GAP" if r.gap else "")
    if report.rows:
        console.print(table)
    s = report.summary()
    verdict = ("compliant: every profile that requires tracking was tracked" if s["compliant"]
               else f"gap: untracked access to {', '.join(s['gaps'])}, which require tracking")
    console.print(
        f"{s['profiles']} profiles ({s['required_profiles']} require tracking), "
        f"{s['total_events']} AssumeRole events from {report.start_time} to {report.end_time}, "
        f"{s['compliance']:.1f}% tracked; {verdict}.",
        soft_wrap=True,
    )
    return str(console.file.getvalue())
