"""``sentinel sessions`` and ``sentinel end ID``: a user's own sessions, through the credential
service. Neither needs access to the session table: the service answers for the caller's
verified identity only (the security team's commands are ``server-sessions`` and
``server-revoke``)."""

from __future__ import annotations

import json
from typing import Any

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.sessions_cmd import mark_grants
from sentinelgw.cli.tables import Column, render
from sentinelgw.errors import UsageError
from sentinelgw.inert import visible
from sentinelgw.service.remote import remote_client, resolve_remote
from sentinelgw.sessions.model import is_session_id


def _remote_option(fn: Any) -> Any:
    return click.option(
        "--remote",
        metavar="URL",
        help="Credential service URL (default: SENTINEL_REMOTE, then defaults.remote).",
    )(fn)


def _client(app: App, remote: str | None) -> Any:
    url = resolve_remote(app, remote, False)
    if url is None:
        raise UsageError(
            "no credential service configured",
            hint="Pass --remote URL or set SENTINEL_REMOTE (sessions of local server mode are "
            "listed by the security team's server-sessions)",
        )
    return remote_client(app, url)


@click.command("sessions")
@click.option(
    "--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="At most N."
)
@format_option("human", "json")
@_remote_option
@common_options
@pass_app
def sessions(app: App, limit: int, fmt: str, remote: str | None) -> int:
    """List your own sessions at the credential service, newest first."""
    answer = _client(app, remote).my_sessions(limit)
    rows = [r for r in answer.get("sessions") or [] if isinstance(r, dict)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return 0

    user = visible(str(answer.get("user") or "?"))
    if not rows:
        click.echo(f"no sessions of {user} at the service")
        return 0
    columns = [
        Column("id", key=True),
        Column("profile", key=True),
        Column("status", key=True),
        Column("started_at", "started", key=True),
        Column("expires_at", "expires", key=True),
        Column("request_count", "requests", right=True),
        Column("end_reason", "why it ended"),
    ]
    table = [{**r, "end_reason": r.get("end_reason") or r.get("revoked_reason")} for r in rows]
    mark_grants(table, columns, at=3)
    render(table, columns, title=f"sessions of {user} ({len(rows)})")
    return 0


@click.command("end")
@click.argument("session_id", metavar="ID")
@click.option("--reason", default=None, help="Why (recorded as the session's end_reason).")
@_remote_option
@common_options
@pass_app
def end(app: App, session_id: str, reason: str | None, remote: str | None) -> int:
    """End one of your sessions at the credential service (its exec stops getting
    credentials; those already issued stay valid until the time printed)."""
    if not is_session_id(session_id):
        raise UsageError(
            f"invalid session id {visible(session_id)!r}",
            hint="Session ids are 16 hex characters; list yours with: sentinel sessions",
        )
    answer = _client(app, remote).end(session_id, reason or "ended with sentinel end")
    until = visible(str(answer.get("credentials_valid_until") or "?"))
    click.echo(
        f"ended session {session_id}; no credential it issued is valid after {until} "
        "(sooner where hard revocation applies)"
    )
    return 0
