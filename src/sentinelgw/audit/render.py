"""Human renderings of the audit reports, readable from 80 columns up.

Each gap is a block: a heading line with the full time, the full category and the call, then
one labelled line per field, values folded onto further lines rather than cut. Values from
CloudTrail are hostile: they are rendered as plain text (never as rich markup), with control
and bidirectional-formatting characters shown as escapes, so a record cannot move the cursor,
recolour the terminal or reorder what is shown.
"""

from __future__ import annotations

import io
from typing import Any

from sentinelgw.audit.report import ComplianceReport, EventItem, UntrackedReport
from sentinelgw.inert import visible

_LABEL = 16  # width of the field labels in an event block


def inert(value: str) -> str:
    """``value`` with every control and invisible character shown as a visible escape."""
    return visible(value)


def _console(width: int) -> Any:
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        width=width,
        highlight=False,
        soft_wrap=False,
        markup=False,
        emoji=False,
        color_system=None,
    )


def _text(value: str | None, style: str = "") -> Any:
    from rich.text import Text

    return Text(inert(value) if value else "-", style=style)


def _block(item: EventItem, width: int) -> Any:
    from rich.table import Table
    from rich.text import Text

    heading = Text()
    heading.append(item.event_time, style="bold")
    heading.append("  ")
    heading.append(item.category, style="bold red" if item.gap else "bold")
    heading.append("  ")
    heading.append_text(_text(item.event_name))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=_LABEL, no_wrap=True)
    grid.add_column(overflow="fold", min_width=max(20, width - _LABEL - 4))
    role = item.role_arn
    rows: list[tuple[str, str | None]] = [
        ("who", item.who),
        ("role", role),
        ("profile", item.profile if item.profile != role else None),
        ("session name", item.role_session_name),
        ("source identity", item.source_identity),
        ("account", item.account),
        ("from", " ".join(v for v in (item.source_ip, item.region) if v) or None),
        ("user agent", item.user_agent),
        ("events", f"{item.count} like this one (counted by Athena)" if item.count > 1 else None),
        ("reason", item.reason),
    ]
    for label, value in rows:
        if value or label in ("who", "reason"):
            grid.add_row(Text(label, style="dim"), _text(value))
    return heading, grid


def untracked_human(report: UntrackedReport, width: int = 120) -> str:
    console = _console(width)
    items = report.events if report.events is not None else report.untracked_sessions
    for item in items:
        heading, grid = _block(item, width)
        console.print(heading, overflow="fold")
        console.print(grid)
        console.print()
    counts = ", ".join(f"{n} {c}" for c, n in report.counts.items() if n)
    console.print(
        f"{report.total_events} STS issuance events from {report.start_time} to "
        f"{report.end_time}: {report.tracked_events} tracked, {report.untracked_events} "
        f"untracked ({report.orphaned_events} orphaned)."
        + (f" By category: {counts}." if counts else "")
        + ("" if report.untracked_events else " No untracked sessions."),
        soft_wrap=True,  # one line; the terminal wraps it, so phrases stay searchable
    )
    if report.required_untracked_events is not None:
        console.print(
            f"--required-only: {report.required_untracked_events} of them on profiles whose "
            "rule requires tracking"
            + ("." if report.required_untracked_events else "; the others do not fail the audit."),
            soft_wrap=True,
        )
    _unreadable(console, report.unreadable)
    text = str(console.file.getvalue())
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def _unreadable(console: Any, files: tuple[str, ...]) -> None:
    if files:
        console.print(
            _text(
                f"{len(files)} unreadable log files were left out: "
                + ", ".join(files[:10])
                + (" …" if len(files) > 10 else "")
            ),
            soft_wrap=True,
        )


def compliance_human(report: ComplianceReport, width: int = 120) -> str:
    from rich.table import Table

    console = _console(width)
    table = Table(header_style="bold")
    for col, justify in (
        ("profile", "left"),
        ("required", "left"),
        ("tracked", "right"),
        ("untracked", "right"),
        ("compliance", "right"),
        ("gap", "left"),
    ):
        table.add_column(
            col,
            justify=justify,  # type: ignore[arg-type]
            overflow="fold",
            min_width=len(col),
        )
    for r in report.rows:
        table.add_row(
            _text(r.profile),
            "yes" if r.required else "no",
            str(r.tracked),
            str(r.untracked),
            f"{r.compliance:.1f}%",
            "GAP" if r.gap else "",
        )
    if report.rows:
        console.print(table)
    for r in report.rows:
        if r.requests:
            console.print(
                _text(f"{r.profile}: sessions under access requests {', '.join(r.requests)}"),
                soft_wrap=True,
            )
    s = report.summary()
    verdict = (
        "compliant: every profile that requires tracking was tracked"
        if s["compliant"]
        else f"gap: untracked access to {', '.join(s['gaps'])}, which require tracking"
    )
    counts = ", ".join(f"{n} {c}" for c, n in report.counts.items() if n)
    console.print(
        _text(
            f"{s['profiles']} profiles ({s['required_profiles']} require tracking), "
            f"{s['total_events']} STS issuance events from {report.start_time} to "
            f"{report.end_time}"
            + (f" ({counts})" if counts else "")
            + f", {s['compliance']:.1f}% tracked; {verdict}."
        ),
        soft_wrap=True,
    )
    _unreadable(console, report.unreadable)
    return str(console.file.getvalue())
