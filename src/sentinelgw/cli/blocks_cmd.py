"""``sentinel server-unblock``, ``server-blocks`` and ``init revocation-scp``: a user's block
and the organisation-wide revocation policy.

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions.blocks`,
:mod:`sentinelgw.sessions.revocation.unblock` and :mod:`sentinelgw.sessions.revocation.role_deny`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from sentinelgw.awsclients import aws_call
from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.sessions_cmd import TABLE_HELP
from sentinelgw.cli.tables import Column, render
from sentinelgw.errors import SessionNotFound
from sentinelgw.inert import CsvWriter, visible
from sentinelgw.sessions.blocks import BLOCK_FIELDS, lift_block, list_blocks
from sentinelgw.sessions.revocation.deny_document import compact
from sentinelgw.sessions.scp import SCP_QUOTA_CHARS, revoked_live, scp_document
from sentinelgw.sessions.store import open_store
from sentinelgw.timeutil import iso


@click.command("revocation-scp")
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@common_options
@pass_app
def init_revocation_scp(app: App, table: str | None) -> int:
    """Print an SCP denying revoked sessions, organisation-wide."""
    from datetime import timedelta

    now = app.now()
    store = open_store(app, table, None)
    # A session's credentials end at most 13 hours after it started (12 h served, plus the
    # last credential's hour), so older revoked records deny nothing that still works.
    since = now - timedelta(hours=14)
    records = revoked_live(store.query(status="revoked", since=since, now=now), now)
    if not records:
        click.echo(
            f"no revoked session in table {store.table!r} has credentials that may still be "
            "valid: nothing to deny (an SCP that holds only expired entries can be detached)",
            err=True,
        )
        return 0
    scp = scp_document(records)
    for pattern, bound in scp.wildcards:
        click.echo(
            f"sentinel: warning: the entries do not fit {SCP_QUOTA_CHARS} characters one by one; "
            f"{pattern} denies EVERY credential of that user issued before {iso(bound)} in the "
            "organisation, not only the revoked sessions",
            err=True,
        )
    click.echo(compact(scp.document))  # what Organizations counts; white space would count
    click.echo(
        f"{len(scp.named)} SourceIdentities named, {len(scp.wildcards)} user wildcards; "
        f"{scp.chars} of {SCP_QUOTA_CHARS} characters (compact). Attach it with: aws "
        "organizations create-policy --type SERVICE_CONTROL_POLICY --content file://scp.json "
        "(or update-policy), then attach-policy to the root, an OU or the accounts",
        err=True,
    )
    return 0


@click.command("server-unblock")
@click.option("--user", required=True, metavar="NAME", help="The blocked user.")
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@common_options
@pass_app
def server_unblock(app: App, user: str, table: str | None) -> int:
    """Lift a user's block: new sessions are allowed again (revoked ones stay revoked).

    The block's IAM wildcard on the user's roles is cut down to now, so the user's new
    sessions work at once; every credential issued before stays denied."""
    from sentinelgw.sessions.revocation.unblock import cut_block_wildcards

    store = open_store(app, table, None)
    region = app.region()[0]
    sts = app.client("sts", region)
    with aws_call("sts", "GetCallerIdentity"):
        who: dict[str, Any] = sts.get_caller_identity()
    now = app.now()
    lifted = lift_block(store.client, store.table, user, by=str(who["Arn"]), now=now)
    if lifted is None:
        raise SessionNotFound(
            f"user {user} is not blocked in table {store.table!r}",
            hint="List blocks with: sentinel server-blocks",
        )
    click.echo(
        f"lifted the block on user {visible(user)} (set by {visible(lifted.blocked_by)}: "
        f"{visible(lifted.reason)})"
    )
    cuts = cut_block_wildcards(store, app.client("iam", region), lifted, now=now)
    done = [c for c in cuts if c.cut]
    if done:
        click.echo(
            f"  IAM: the block's wildcard on {len(done)} role{'s' if len(done) != 1 else ''} "
            f"now ends at {iso(now.replace(microsecond=0))}: new sessions of the user work "
            "at once, credentials issued before stay denied"
        )
    for cut in cuts:
        if cut.error is not None:
            click.echo(
                f"sentinel: warning: the block's wildcard on role {visible(cut.role_arn)} was "
                f"not shortened ({cut.error}); the user's new sessions there are denied until "
                f"it ends by itself, a minute after the block",
                err=True,
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

    now = app.now()
    store = open_store(app, table, None)
    rows = [
        b.to_export(now)
        for b in list_blocks(store.client, store.table, now, include_ended=include_ended)
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
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
