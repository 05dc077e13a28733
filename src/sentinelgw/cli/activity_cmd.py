"""``sentinel audit session-activity``: every API call made with sessions' credentials.

Parsing and rendering only; the work is in :mod:`sentinelgw.audit.activity_run`. Exit 0 with a
report (even an empty one), 2 when the sessions or the source cannot be read.
"""

from __future__ import annotations

from typing import Any

import click

from sentinelgw.audit.activity_render import activity_csv, activity_human
from sentinelgw.audit.activity_run import ActivityInput, ids_of, targets
from sentinelgw.audit.activity_run import session_activity as run_activity
from sentinelgw.audit.activity_sql import activity_plan
from sentinelgw.audit.athena import AthenaSource, QueryStats
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.report import to_json_text
from sentinelgw.cli.athena_cmd import athena_options, athena_settings, scanned_line
from sentinelgw.cli.common import App, common_options, format_option, pass_app, progress_spinner
from sentinelgw.inert import visible
from sentinelgw.timeutil import iso, parse_point
from sentinelgw.wording import counted, lookup_window_warning

_SOURCE_HELP = (
    "Where events come from: CloudTrail LookupEvents by the sessions' access keys (default, "
    "90 days), s3://bucket/prefix of a trail's log files, a local folder of them, or "
    "athena:DATABASE.TABLE (a query on the sessions' SourceIdentity)."
)


@click.command("session-activity")
@click.argument("session_ids", nargs=-1, required=True, metavar="ID...")
@click.option(
    "--since",
    default=None,
    metavar="TIME",
    help="Start of the window: an age (7d) or ISO 8601 time. Default: when the first "
    "session started.",
)
@click.option(
    "--until",
    default=None,
    metavar="TIME",
    help="End of the window. Default: two hours after the last session ended, or now.",
)
@click.option("--source", metavar="SRC", help=_SOURCE_HELP)
@click.option(
    "--table",
    metavar="NAME",
    help="Session table (default: SENTINEL_SESSION_TABLE, then defaults.session_table).",
)
@click.option(
    "--allow-unreadable",
    is_flag=True,
    help="Report without log files that cannot be read (listed) instead of exiting 2.",
)
@athena_options
@format_option("human", "json", "csv")
@common_options
@pass_app
def session_activity(
    app: App,
    session_ids: tuple[str, ...],
    since: str | None,
    until: str | None,
    source: str | None,
    table: str | None,
    allow_unreadable: bool,
    fmt: str,
    **athena: Any,
) -> int:
    """Every API call made with the credentials of sessions ID... (chained ones marked).

    An ID may also be an access request's or a break-glass grant's: all its sessions."""
    settings = athena_settings(source, **athena)
    now = app.now()
    inp = ActivityInput(
        session_ids=ids_of(session_ids),
        since=parse_point(since, now=now, what="--since") if since else None,
        until=parse_point(until, now=now, what="--until") if until else None,
        source=source,
        table=table,
        region=app.region()[0],
        allow_unreadable=allow_unreadable,
        athena=None if settings is None else AthenaSource(settings.target, settings.polling),
    )
    found = targets(app, inp)
    sessions, window = found
    if settings is not None and settings.plan:
        t = settings.target
        p = activity_plan(t.database, t.table, sessions, window.start, window.end)
        click.echo(
            f"-- Window: {iso(window.start)} to {iso(window.end)}\n-- {p.describe()}\n"
            f"-- Runs in workgroup {t.workgroup}, results to "
            f"{t.output or 'the workgroup result location'}\n{p.sql};"
        )
        return 0
    if source is None:
        warning = lookup_window_warning(window.start, now)
        if warning:
            click.echo(f"sentinel: warning: {warning}", err=True)
    stats, query = ParseStats(), QueryStats()
    with progress_spinner(fmt == "human") as progress:
        report = run_activity(app, inp, stats=stats, query=query, progress=progress, found=found)
    if query.query_id:
        click.echo(scanned_line(query), err=True)
    for warning in report.warnings:
        click.echo(f"sentinel: warning: {visible(warning)}", err=True)
    if stats.malformed:
        example = f" (e.g. {visible(stats.examples[0])})" if stats.examples else ""
        what = counted(stats.malformed, "malformed CloudTrail record")
        click.echo(f"sentinel: warning: skipped {what} or file{example}", err=True)
    if fmt == "json":
        click.echo(to_json_text(report.to_json()))
    elif fmt == "csv":
        click.echo(activity_csv(report), nl=False)
    else:
        click.echo(activity_human(report), nl=False)
    return 0
