"""``sentinel sessions`` and ``sentinel end ID``: a user's own sessions, through the credential
service. Neither needs access to the session table: the service answers for the caller's
verified identity only (the security team's commands are ``server-sessions`` and
``server-revoke``)."""

from __future__ import annotations

from typing import Any

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.listing import Listing, show_listing
from sentinelgw.cli.tables import Column
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


SESSIONS = Listing(
    key="sessions",
    noun="sessions of",
    columns=(
        Column("id", key=True),
        Column("profile", key=True),
        Column("status", key=True),
        Column("started_at", "started", key=True),
        Column("expires_at", "expires", key=True),
        Column("request_count", "requests", right=True),
        Column("end_reason", "why it ended"),
    ),
    prepare=lambda r: {**r, "end_reason": r.get("end_reason") or r.get("revoked_reason")},
    grants_at=3,
    empty_after=" at the service",
)


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
    show_listing(_client(app, remote).my_sessions(limit), SESSIONS, fmt)
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
