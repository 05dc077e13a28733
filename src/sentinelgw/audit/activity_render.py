"""The human and CSV renderings of ``audit session-activity``: every CloudTrail value inert."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinelgw.audit.activity import EVENT_FIELDS
from sentinelgw.inert import CsvWriter, visible
from sentinelgw.timeutil import iso
from sentinelgw.wording import counted

if TYPE_CHECKING:
    from sentinelgw.audit.activity import ActivityReport


def activity_csv(report: ActivityReport) -> str:
    import io

    buf = io.StringIO()
    writer = CsvWriter(buf)

    writer.header(EVENT_FIELDS)
    for e in report.events:
        writer.row(e.row())
    return buf.getvalue()


def activity_human(report: ActivityReport) -> str:
    """One line per call; every CloudTrail value shown inert."""

    lines = []
    for t in report.sessions:
        keys = ", ".join(t.access_key_ids) or "none recorded"
        lines.append(
            f"Session {t.id}  user {visible(t.user)}  profile {visible(t.profile)}  "
            f"SourceIdentity {visible(t.source_identity)}  access keys {visible(keys)}"
        )
    c = report.counts()
    lines.append(
        f"Window {iso(report.start)} to {iso(report.end)}, source {visible(report.source)}: "
        f"{counted(c['events'], 'call')} ({c['session']} with the session's keys, "
        f"{c['chained']} chained, {c['issued']} issuing, {counted(c['errors'], 'error')})"
    )
    if report.events:
        lines.append("")
        several = len(report.sessions) > 1
        for e in report.events:
            service = (e.service or "?").removesuffix(".amazonaws.com")
            mark = {"session": "", "chained": "  [chained]", "issued": "  [issued]"}[e.kind]
            parts = [f"{iso(e.event_time)}  {visible(service)}:{visible(e.action or '?')}{mark}"]
            if several:
                parts.append(f"session {e.session_id}")
            if e.resources:
                parts.append(visible(" ".join(e.resources)))
            parts.append(f"error {visible(e.error_code)}" if e.error_code else "ok")
            parts.append(f"from {visible(e.source_ip or '?')}")
            parts.append(f"agent {visible(e.user_agent or '?')}")
            if e.kind == "chained":
                parts.append(f"as {visible(e.caller_arn or '?')}")
            lines.append("  ".join(parts))
    for name in report.unreadable:
        lines.append(f"unreadable (skipped): {visible(name)}")
    return "\n".join(lines) + "\n"
