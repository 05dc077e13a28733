"""``sentinel server-revoke``, ``server-unblock`` and ``server-blocks``: revoking sessions and
users (the record, the IAM deny, the block) and listing blocks.

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions.revoke` and
:mod:`sentinelgw.sessions.blocks`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.sessions_cmd import TABLE_HELP, check_session_id
from sentinelgw.errors import HardRevocationError, SessionNotFound, UsageError
from sentinelgw.inert import visible

if TYPE_CHECKING:
    from sentinelgw.sessions.revoke import RevokeOutcome


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
@click.option("--table", metavar="NAME", help=TABLE_HELP)
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
        check_session_id(session_id)
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
@click.option("--table", metavar="NAME", help=TABLE_HELP)
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
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@click.option("--all", "include_ended", is_flag=True, help="Also blocks that ended or were lifted.")
@format_option("human", "json", "csv")
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
    """The layout server-sessions has: user, state and times whole (stacked below their
    width); who blocked, why and who lifted shown when they fit, else named."""
    from sentinelgw.cli.tables import Column, render

    if not rows:
        click.echo(visible(f"no blocked users in table {table!r}"))
        return
    columns = [
        Column("user", key=True),
        Column("active", key=True),
        Column("until", key=True),
        Column("blocked_at", key=True),
        Column("blocked_by"),
        Column("reason"),
        Column("lifted_by"),
    ]
    cells = [
        dict(row, until=row["until"] or "lifted only", active="yes" if row["active"] else "no")
        for row in rows
    ]
    render(cells, columns, title=f"blocked users in {table} ({len(rows)})")
