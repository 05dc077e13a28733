"""``sentinel init sessions``, ``server-sessions`` and ``server-session`` (revocation and
blocks are in :mod:`sentinelgw.cli.revoke_cmd`).

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions`.

``init sessions`` asks before creating anything. On a terminal it prompts; when stdin is not a
terminal (CI, scripts) it needs ``--yes``, otherwise it prints the plan and exits 2, as
``terraform apply`` does without ``-auto-approve``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.listing import mark_grants
from sentinelgw.cli.tables import Column, render
from sentinelgw.errors import SessionNotFound, SessionStoreError, UsageError
from sentinelgw.inert import visible
from sentinelgw.sessions.export import write_csv, write_json
from sentinelgw.sessions.iam import generate_iam as make_policies
from sentinelgw.sessions.model import EXPORT_FIELDS, STATUSES, UnreadableItem, is_session_id
from sentinelgw.sessions.schema import SPEC, ensure_table
from sentinelgw.sessions.store import DEFAULT_TABLE, open_store
from sentinelgw.timeutil import parse_point
from sentinelgw.wording import counted

if TYPE_CHECKING:
    pass

TABLE_HELP = "Session table (default: SENTINEL_SESSION_TABLE, then defaults.session_table)."


@click.group()
@common_options
def init() -> None:
    """Provision Sentinel infrastructure."""


@init.command("sessions")
@click.option(
    "--table",
    metavar="NAME",
    help="Table to create (default: defaults.session_table, then sentinel-sessions).",
)
@click.option("--plan", is_flag=True, help="Show what would be done; change nothing.")
@click.option(
    "--generate-iam",
    is_flag=True,
    help="Print the least-privilege IAM policies for users, the security team and "
    "the table admin; change nothing.",
)
@click.option("--yes", "-y", is_flag=True, help="Create without asking (required without a TTY).")
@common_options
@pass_app
def init_sessions(app: App, table: str | None, plan: bool, generate_iam: bool, yes: bool) -> int:
    """Create the DynamoDB session table (idempotent)."""
    name = table or app.config().default("session_table") or DEFAULT_TABLE
    region, _ = app.region()
    if generate_iam:
        click.echo(json.dumps(make_policies(str(name), region), indent=2))
        return 0

    client = app.client("dynamodb", region)
    where = f"{name} in {client.meta.region_name}"
    report = ensure_table(client, str(name), plan=True)
    _fail_on_differences(report.table, report.differences)
    if report.up_to_date:
        click.echo(f"session table {where} is already up to date")
        return 0
    click.echo(f"plan for session table {where}:")
    for action in report.actions:
        click.echo(f"  + {action}")
    if not report.exists:
        for line in SPEC.describe():
            click.echo(f"      {line}")
    if plan:
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "not creating anything without confirmation",
                hint="Re-run with --yes (stdin is not a terminal)",
            )
        if not click.confirm("Apply this plan?"):
            click.echo("nothing changed")
            return 0
    report = ensure_table(client, str(name))
    _fail_on_differences(report.table, report.differences)
    if report.created:
        click.echo(f"created session table {where} (ACTIVE, TTL on 'ttl')")
    else:
        click.echo(f"updated session table {where}: {'; '.join(report.actions)}")
    return 0


def _fail_on_differences(table: str, differences: list[str]) -> None:
    if not differences:
        return
    for diff in differences:
        click.echo(f"  ! {diff}", err=True)
    n = len(differences)
    raise SessionStoreError(
        f"table {table!r} exists with a different schema ({counted(n, 'difference')}, "
        "listed above); Sentinel did not change it",
        hint="Use another --table name, or migrate the data to a table created by "
        "'sentinel init sessions'",
    )


@click.command("server-sessions")
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@click.option(
    "--status",
    type=click.Choice(list(STATUSES)),
    help="Effective status (an active record past expires_at counts as expired).",
)
@click.option("--user", metavar="NAME", help="Only this user's sessions.")
@click.option("--profile", metavar="NAME", help="Only sessions of this profile.")
@click.option("--since", metavar="WHEN", help="Started at or after: an age (30d) or ISO 8601.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N sessions.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json", "csv"]),
    default="human",
    show_default=True,
    help="Output format; json and csv stream any number of rows.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 2 if any item could not be read (default: warn, skip it, exit 0).",
)
@common_options
@pass_app
def server_sessions(
    app: App,
    table: str | None,
    status: str | None,
    user: str | None,
    profile: str | None,
    since: str | None,
    limit: int | None,
    fmt: str,
    strict: bool,
) -> int:
    """List and export server sessions, newest first."""
    now = app.now()
    since_at = parse_point(since, now=now, what="--since") if since else None
    store = open_store(app, table, None)
    skipped = SkipReporter(store.table)
    store.on_unreadable = skipped
    records = store.query(
        status=status, user=user, profile=profile, since=since_at, limit=limit, now=now
    )
    out = sys.stdout
    if fmt == "json":
        write_json(records, out, now)
    elif fmt == "csv":
        write_csv(records, out, now)
    else:
        _render_table([r.to_export(now) for r in records], store.table)
    return skipped.finish(strict)


class SkipReporter:
    """Warns on stderr, one line per session item that cannot be read, and counts them."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.count = 0

    def __call__(self, exc: UnreadableItem) -> None:
        self.count += 1
        click.echo(
            f"sentinel: warning: skipped {visible(exc)} in table {visible(repr(self.table))}",
            err=True,
        )

    def finish(self, strict: bool) -> int:
        """0, or with ``strict`` a SessionStoreError (exit 2) when anything was skipped."""
        if strict and self.count:
            raise SessionStoreError(
                f"{self.count} item{'s' if self.count != 1 else ''} in table {self.table!r} "
                "could not be read (listed above)",
                hint="Fix or delete them, or re-run without --strict",
            )
        return 0


def _render_table(rows: list[dict[str, Any]], table: str) -> None:
    if not rows:
        click.echo(f"no sessions in table {table!r} match")
        return
    columns = [
        Column("id", key=True),
        Column("status", key=True),
        Column("user", key=True),
        Column("profile", key=True),
        Column("started_at", key=True),
        Column("expires_at", key=True),
        Column("last_access_at"),
        Column("request_count", "requests", right=True),
        Column("host"),
    ]
    mark_grants(rows, columns, at=4)
    render(rows, columns, title=f"sessions in {table} ({len(rows)})")


@click.command("server-session")
@click.argument("session_id", metavar="ID")
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@format_option("human", "json")
@common_options
@pass_app
def server_session(app: App, session_id: str, table: str | None, fmt: str) -> int:
    """Show one server session."""
    check_session_id(session_id)
    store = open_store(app, table, None)
    rec = store.get(session_id)
    if rec is None:
        raise SessionNotFound(
            f"unknown session {session_id} in table {store.table!r}",
            hint="List sessions with: sentinel server-sessions",
        )
    row = rec.to_export(app.now())
    if fmt == "json":
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return 0
    width = max(len(f) for f in EXPORT_FIELDS)
    for name in EXPORT_FIELDS:
        value = row[name]
        click.echo(f"{name:<{width}}  {'-' if value is None or value == '' else visible(value)}")
    return 0


def check_session_id(session_id: str) -> None:
    if not is_session_id(session_id):
        raise UsageError(
            f"invalid session id {session_id!r}",
            hint="A session id is 16 lowercase hex characters; "
            "list them with: sentinel server-sessions",
        )
