"""``sentinel audit untracked-sessions`` and ``sentinel audit session-compliance``.

Parsing and rendering only; the work is in :mod:`sentinelgw.audit`. Exit codes are what CI
gates on: 0 nothing untracked (or no compliance gap), 1 found, 2 the audit could not run.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import click

from sentinelgw.audit.athena import AthenaSource
from sentinelgw.audit.render import compliance_human, inert, untracked_human
from sentinelgw.audit.report import compliance_csv, events_csv, to_json_text
from sentinelgw.audit.run import AuditInput, AuditRun
from sentinelgw.audit.run import session_compliance as run_compliance
from sentinelgw.audit.run import untracked_sessions as run_untracked
from sentinelgw.audit.window import Window
from sentinelgw.cli.activity_cmd import session_activity
from sentinelgw.cli.athena_cmd import (
    AthenaSettings,
    athena_ddl,
    athena_options,
    athena_settings,
    scanned_line,
    show_plan,
)
from sentinelgw.cli.common import App, common_options, format_option, pass_app, progress_spinner
from sentinelgw.errors import UsageError
from sentinelgw.timeutil import iso, parse_point
from sentinelgw.wording import counted, lookup_window_warning

_SOURCE_HELP = (
    "Where events come from: CloudTrail LookupEvents (default), s3://bucket/prefix "
    "of a trail's log files, a local folder of them, or athena:DATABASE.TABLE (an "
    "organisation trail's table from 'sentinel audit athena-ddl')."
)
_UNREADABLE_HELP = (
    "Report without log files that cannot be read, inflated or parsed (listed "
    "in the output) instead of exiting 2."
)
_AWS_SERVICE_HELP = "Count credentials issued to AWS services (Lambda, EC2, ...) as gaps."
_TABLE_HELP = "Session table (default: SENTINEL_SESSION_TABLE, then defaults.session_table)."


def _window_options(fn: Any) -> Any:
    fn = click.option(
        "--until",
        default=None,
        metavar="TIME",
        help="End of the window: an age (1h) or ISO 8601 time. Default: now.",
    )(fn)
    fn = click.option(
        "--since",
        default="7d",
        show_default=True,
        metavar="TIME",
        help="Start of the window: an age (7d) or ISO 8601 time.",
    )(fn)
    return fn


def _audit_options(fn: Any) -> Any:
    fn = click.option("--include-aws-service", is_flag=True, help=_AWS_SERVICE_HELP)(fn)
    fn = click.option("--allow-unreadable", is_flag=True, help=_UNREADABLE_HELP)(fn)
    return fn


@click.group("audit")
@common_options
def audit() -> None:
    """Audit CloudTrail's STS credential issuance against the session table."""


def _input(app: App, since: str, until: str | None, **kw: Any) -> AuditInput:
    now = app.now()
    start = parse_point(since, now=now, what="--since")
    end = parse_point(until, now=now, what="--until") if until else now
    if start > end:
        raise UsageError(
            f"--since {since!r} ({iso(start)}) is after --until {until or 'now'!r} ({iso(end)})",
            hint="Give an earlier --since",
        )
    if kw.get("source") is None:  # LookupEvents: CloudTrail answers for 90 days only
        warning = lookup_window_warning(start, now)
        if warning:
            click.echo(f"sentinel: warning: {warning}", err=True)
    return AuditInput(window=Window(start, end), region=app.region()[0], **kw)


def _warn(run: AuditRun) -> None:
    if run.query.query_id:
        click.echo(scanned_line(run.query), err=True)
    p = run.parse
    if p.malformed:
        example = f" (e.g. {inert(p.examples[0])})" if p.examples else ""
        what = counted(p.malformed, "malformed CloudTrail record")
        click.echo(f"sentinel: warning: skipped {what} or file{example}", err=True)
    for item in run.unreadable_items:
        click.echo(
            f"sentinel: warning: skipped {inert(item)} in the session table; events "
            "naming it count as without a record",
            err=True,
        )


def _source(settings: AthenaSettings | None) -> AthenaSource | None:
    return None if settings is None else AthenaSource(settings.target, settings.polling)


def _plan(settings: AthenaSettings, inp: AuditInput) -> int:
    click.echo(show_plan(settings, inp.window.start, inp.window.end), nl=False)
    return 0


def _with_query(doc: dict[str, Any], run: AuditRun) -> dict[str, Any]:
    """The Athena query's id and bytes scanned, when the source was Athena."""
    q = run.query
    if q.query_id:
        doc["athena"] = {
            "query_id": q.query_id,
            "workgroup": q.workgroup,
            "bytes_scanned": q.bytes_scanned,
            "result_rows": q.rows,
        }
    return doc


def _width() -> int:
    return max(80, shutil.get_terminal_size((120, 24)).columns) if sys.stdout.isatty() else 160


@audit.command("untracked-sessions")
@_window_options
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option("--role", metavar="ARN", help="Only events for this IAM role ARN.")
@click.option("--profile", metavar="P", help="Only events attributed to this AWS profile.")
@click.option("--source", metavar="SRC", help=_SOURCE_HELP)
@click.option(
    "--all",
    "keep_all",
    is_flag=True,
    help="List every audited event, not only the gaps (JSON: an events array).",
)
@click.option(
    "--required-only",
    is_flag=True,
    help="Exit 1 only for gaps on profiles whose rule requires tracking (the CI gate); every "
    "gap is still listed.",
)
@click.option(
    "--policy",
    "policy_spec",
    metavar="SRC",
    help="With --required-only: policy file or ssm:/name (default: policy_source, then the "
    "inline policy).",
)
@_audit_options
@athena_options
@format_option("human", "json", "csv")
@common_options
@pass_app
def untracked_sessions(
    app: App,
    since: str,
    until: str | None,
    table: str | None,
    role: str | None,
    profile: str | None,
    source: str | None,
    keep_all: bool,
    required_only: bool,
    policy_spec: str | None,
    allow_unreadable: bool,
    include_aws_service: bool,
    fmt: str,
    **athena: Any,
) -> int:
    """STS credential issuance that bypassed session tracking. Exit 1 if any was found (with
    --required-only: any on a profile whose rule requires tracking)."""
    settings = athena_settings(source, **athena)
    inp = _input(
        app,
        since,
        until,
        table=table,
        role=role,
        profile=profile,
        source=source,
        keep_all=keep_all,
        allow_unreadable=allow_unreadable,
        include_aws_service=include_aws_service,
        athena=_source(settings),
    )
    if policy_spec and not required_only:
        raise UsageError("--policy applies to --required-only here")
    if settings is not None and settings.plan:
        return _plan(settings, inp)
    run = AuditRun()
    with progress_spinner(fmt == "human") as progress:
        report = run_untracked(
            app,
            inp,
            run,
            required_only=required_only,
            policy_spec=policy_spec,
            progress=progress,
        )
    _warn(run)
    if fmt == "json":
        click.echo(to_json_text(_with_query(report.to_json(), run)))
    elif fmt == "csv":
        rows = report.events if report.events is not None else report.untracked_sessions
        click.echo(events_csv(rows), nl=False)
    else:
        click.echo(untracked_human(report, _width()), nl=False)
    return 1 if report.failing_events else 0


@audit.command("session-compliance")
@_window_options
@click.option("--profile", metavar="P", help="Only this AWS profile.")
@click.option(
    "--policy",
    "policy_spec",
    metavar="SRC",
    help="Policy file or ssm:/name (default: policy_source, then the inline policy).",
)
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option("--source", metavar="SRC", help=_SOURCE_HELP)
@_audit_options
@athena_options
@format_option("human", "json", "csv")
@common_options
@pass_app
def session_compliance(
    app: App,
    since: str,
    until: str | None,
    profile: str | None,
    policy_spec: str | None,
    table: str | None,
    source: str | None,
    allow_unreadable: bool,
    include_aws_service: bool,
    fmt: str,
    **athena: Any,
) -> int:
    """Tracking coverage per profile. Exit 1 if a profile that requires tracking has gaps."""
    settings = athena_settings(source, **athena)
    inp = _input(
        app,
        since,
        until,
        table=table,
        profile=profile,
        source=source,
        allow_unreadable=allow_unreadable,
        include_aws_service=include_aws_service,
        athena=_source(settings),
    )
    if settings is not None and settings.plan:
        return _plan(settings, inp)
    run = AuditRun()
    with progress_spinner(fmt == "human") as progress:
        report = run_compliance(app, inp, policy_spec, run, progress=progress)
    _warn(run)
    if fmt == "json":
        click.echo(to_json_text(_with_query(report.to_json(), run)))
    elif fmt == "csv":
        click.echo(compliance_csv(report), nl=False)
    else:
        click.echo(compliance_human(report, _width()), nl=False)
    return 1 if report.gaps else 0


audit.add_command(athena_ddl)
audit.add_command(session_activity)
