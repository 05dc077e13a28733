"""``sentinel init sessions``, ``server-sessions``, ``server-session``, ``server-revoke``,
``server-unblock`` and ``server-blocks``.

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions`.

``init sessions`` asks before creating anything. On a terminal it prompts; when stdin is not a
terminal (CI, scripts) it needs ``--yes``, otherwise it prints the plan and exits 2, as
``terraform apply`` does without ``-auto-approve``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.errors import HardRevocationError, SessionNotFound, SessionStoreError, UsageError
from sentinelgw.inert import visible
from sentinelgw.sessions.model import EXPORT_FIELDS, STATUSES, UnreadableItem, is_session_id

if TYPE_CHECKING:
    from sentinelgw.sessions.revoke import RevokeOutcome

_TABLE_HELP = "Session table (default: SENTINEL_SESSION_TABLE, then defaults.session_table)."


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
    from sentinelgw.sessions.store import DEFAULT_TABLE

    name = table or app.config().default("session_table") or DEFAULT_TABLE
    region, _ = app.region()
    if generate_iam:
        from sentinelgw.sessions.iam import generate_iam as make_policies

        click.echo(json.dumps(make_policies(str(name), region), indent=2))
        return 0

    from sentinelgw.sessions.schema import SPEC, ensure_table

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
        f"table {table!r} exists with a different schema ({n} difference{'s' if n > 1 else ''}, "
        "listed above); Sentinel did not change it",
        hint="Use another --table name, or migrate the data to a table created by "
        "'sentinel init sessions'",
    )


@click.command("server-sessions")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
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
    from sentinelgw.sessions.store import open_store
    from sentinelgw.timeutil import parse_point

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
        from sentinelgw.sessions.export import write_json

        write_json(records, out, now)
    elif fmt == "csv":
        from sentinelgw.sessions.export import write_csv

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
    from sentinelgw.cli.tables import Column, render

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
    render(rows, columns, title=f"sessions in {table} ({len(rows)})")


@click.command("server-session")
@click.argument("session_id", metavar="ID")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="Output format.",
)
@common_options
@pass_app
def server_session(app: App, session_id: str, table: str | None, fmt: str) -> int:
    """Show one server session."""
    from sentinelgw.sessions.store import open_store

    _check_id(session_id)
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


@click.command("server-revoke")
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("--user", metavar="NAME", help="Revoke every active session of this user instead.")
@click.option("--block", is_flag=True, help="With --user: also refuse the user's new sessions.")
@click.option(
    "--for",
    "block_for",
    metavar="DURATION",
    help="With --block: lift the block after this long (24h, 7d); default: never.",
)
@click.option(
    "--reason",
    required=True,
    metavar="TEXT",
    help="Why (recorded with your AWS identity and the time).",
)
@click.option(
    "--soft",
    is_flag=True,
    help="Only mark the record: skip the IAM deny of credentials already issued.",
)
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@common_options
@pass_app
def server_revoke(
    app: App,
    session_id: str | None,
    user: str | None,
    block: bool,
    block_for: str | None,
    reason: str,
    soft: bool,
    table: str | None,
) -> int:
    """Revoke a server session (or all of a user's): refused at the server, denied by IAM."""
    from sentinelgw.awsclients import call
    from sentinelgw.sessions.store import open_store

    until = _check_revoke_flags(app, session_id, user, block, block_for, reason)
    store = open_store(app, table, None)
    region = app.region()[0]
    sts = app.client("sts", region)
    iam = None if soft else app.client("iam", region)
    who: dict[str, Any] = call("sts", "GetCallerIdentity", lambda: sts.get_caller_identity())
    kw: dict[str, Any] = {
        "by": str(who["Arn"]),
        "reason": reason.strip(),
        "now": app.now(),
        "soft": soft,
        "on_fallback": _warn_fallback,
    }
    if session_id is not None:
        from sentinelgw.sessions.revoke import revoke_session

        outcomes: tuple[RevokeOutcome, ...] = (revoke_session(store, iam, session_id, **kw),)
    else:
        from sentinelgw.sessions.revoke import revoke_user

        assert user is not None
        result = revoke_user(store, iam, user, block=block, block_until=until, **kw)
        outcomes = result.sessions
        if result.block is not None:
            click.echo(
                f"blocked user {user} {_until(result.block.until)}: new sessions are "
                "refused (the credential service enforces it; local mode checks it "
                "before each session)"
            )
        click.echo(
            f"{len(outcomes)} active session{'s' if len(outcomes) != 1 else ''} "
            f"of user {user} revoked"
        )
    for outcome in outcomes:
        _report_revoke(outcome)
    failed = [o for o in outcomes if o.iam_error is not None]
    if failed:
        first = failed[0].iam_error
        raise HardRevocationError(
            f"the IAM step failed for {len(failed)} session{'s' if len(failed) > 1 else ''} "
            f"({first.message if first else ''}); the record stays revoked, but credentials "
            "already issued keep working until they expire",
            hint=(
                first.hint
                if first and first.hint
                else "The revoker needs iam:PutRolePolicy on the role"
            ),
        )
    return 0


def _check_revoke_flags(
    app: App,
    session_id: str | None,
    user: str | None,
    block: bool,
    block_for: str | None,
    reason: str,
) -> datetime | None:
    """Usage errors for bad combinations; the block's end time, if --for was given."""
    if (session_id is None) == (user is None):
        raise UsageError(
            "give either a session ID or --user NAME",
            hint="Revoke one session by id, or every active session of a user",
        )
    if (block or block_for) and user is None:
        raise UsageError("--block and --for need --user", hint="Blocks apply to a user")
    if block_for and not block:
        raise UsageError("--for needs --block", hint="Add --block to refuse new sessions")
    if not reason.strip():
        raise UsageError("--reason must not be empty", hint="Say why the session is revoked")
    if session_id is not None:
        _check_id(session_id)
    if not block_for:
        return None
    from sentinelgw.timeutil import parse_duration

    return app.now() + parse_duration(block_for, what="--for")


def _report_revoke(outcome: RevokeOutcome) -> None:
    from sentinelgw.timeutil import iso

    rec = outcome.record
    click.echo(
        f"revoked session {rec.id} (user {visible(rec.user)}, profile {visible(rec.profile)})"
    )
    click.echo(
        "  refused at the server/service: every further credential request of the "
        "session is refused"
    )
    if outcome.soft:
        click.echo(
            "  not denied by IAM (--soft): credentials it already holds keep working "
            "until they expire"
        )
    elif outcome.lapsed:
        click.echo(
            "  no IAM deny needed: every credential of the session expired at "
            f"{iso(rec.expires_at)}"
        )
    elif outcome.iam is not None:
        res = outcome.iam
        if res.outcome == "fallback":
            what = "every session of the role issued before now is denied"
        else:
            what = f"SourceIdentity {res.source_identity} is denied"
        click.echo(
            f"  denied by IAM: policy {res.policy_name} on role {res.role_arn} ({what}; "
            "AWS applies policy changes within seconds to a few minutes)"
        )
    elif outcome.iam_error is not None:
        click.echo(f"  NOT denied by IAM: {outcome.iam_error}", err=True)


def _warn_fallback(warning: str) -> bool:
    click.echo(f"sentinel: warning: {warning}", err=True)
    return True


def _until(when: datetime | None) -> str:
    from sentinelgw.timeutil import iso

    return f"until {iso(when)}" if when is not None else "until it is lifted"


@click.command("server-unblock")
@click.option("--user", required=True, metavar="NAME", help="The blocked user.")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@common_options
@pass_app
def server_unblock(app: App, user: str, table: str | None) -> int:
    """Lift a user's block: new sessions are allowed again (revoked ones stay revoked)."""
    from sentinelgw.awsclients import call
    from sentinelgw.sessions.blocks import lift_block
    from sentinelgw.sessions.store import open_store

    store = open_store(app, table, None)
    sts = app.client("sts", app.region()[0])
    who: dict[str, Any] = call("sts", "GetCallerIdentity", lambda: sts.get_caller_identity())
    lifted = lift_block(store.client, store.table, user, by=str(who["Arn"]), now=app.now())
    if lifted is None:
        raise SessionNotFound(
            f"user {user} is not blocked in table {store.table!r}",
            hint="List blocks with: sentinel server-blocks",
        )
    click.echo(
        f"lifted the block on user {visible(user)} (set by {visible(lifted.blocked_by)}: "
        f"{visible(lifted.reason)})"
    )
    return 0


@click.command("server-blocks")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option("--all", "include_ended", is_flag=True, help="Also blocks that ended or were lifted.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json", "csv"]),
    default="human",
    show_default=True,
    help="Output format.",
)
@common_options
@pass_app
def server_blocks(app: App, table: str | None, include_ended: bool, fmt: str) -> int:
    """List blocked users."""
    from sentinelgw.sessions.blocks import BLOCK_FIELDS, list_blocks
    from sentinelgw.sessions.store import open_store

    now = app.now()
    store = open_store(app, table, None)
    rows = [
        b.to_export(now)
        for b in list_blocks(store.client, store.table, now, include_ended=include_ended)
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        from sentinelgw.inert import CsvWriter

        writer = CsvWriter(sys.stdout)
        writer.header(BLOCK_FIELDS)
        for row in rows:
            writer.row(row[f] for f in BLOCK_FIELDS)
    else:
        _render_blocks(rows, store.table)
    return 0


def _render_blocks(rows: list[dict[str, Any]], table: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not rows:
        console.print(Text(f"no blocked users in table {table!r}"))
        return
    grid = Table(title=Text(f"blocked users in {table} ({len(rows)})"), title_justify="left")
    columns = ("user", "active", "until", "blocked_at", "blocked_by", "reason", "lifted_by")
    for col in columns:
        grid.add_column(col)
    for row in rows:
        cells = dict(
            row, until=row["until"] or "lifted only", active="yes" if row["active"] else "no"
        )
        # Text cells: values come from the table and must not be read as rich markup.
        grid.add_row(*[Text(visible(cells[c] or "")) for c in columns])
    console.print(grid)


def _check_id(session_id: str) -> None:
    if not is_session_id(session_id):
        raise UsageError(
            f"invalid session id {session_id!r}",
            hint="A session id is 16 lowercase hex characters; "
            "list them with: sentinel server-sessions",
        )
