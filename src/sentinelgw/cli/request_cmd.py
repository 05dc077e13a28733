"""Access requests for ``require_approval`` profiles, through the credential service:
``sentinel request``, ``requests``, ``request-cancel``, ``approve`` and ``deny``.

None of them needs access to the session table: each call carries a proof of the caller's
identity, and the service decides who may ask, see and decide (its document's ``approvals:``).
"""

from __future__ import annotations

import json
from typing import Any

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.listing import Listing, show_listing
from sentinelgw.cli.self_cmd import _client, _remote_option
from sentinelgw.cli.tables import Column
from sentinelgw.errors import UsageError
from sentinelgw.inert import visible
from sentinelgw.sessions.model import is_session_id
from sentinelgw.timeutil import parse_duration

STATUSES = ("pending", "approved", "denied", "cancelled", "expired")
CSV_FIELDS = (
    "id",
    "requester",
    "profile",
    "status",
    "duration_seconds",
    "created_at",
    "pending_until",
    "approved_at",
    "ends_at",
    "approvals_needed",
    "justification",
    "decided_by",
    "sessions",
    "end_reason",
)


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    sessions = " ".join(map(str, row.get("sessions") or []))
    return {**row, "decided_by": _decided_by(row), "sessions": sessions}


def _check_id(request_id: str) -> None:
    if not is_session_id(request_id):
        raise UsageError(
            f"invalid request id {visible(request_id)!r} (BadRequestId)",
            hint="Request ids are 16 hex characters; list them with: sentinel requests",
        )


def _decided_by(row: dict[str, Any]) -> str:
    parts = []
    for d in row.get("decisions") or []:
        if isinstance(d, dict):
            comment = f" ({d.get('comment')})" if d.get("comment") else ""
            parts.append(f"{d.get('action')} by {d.get('by')} at {d.get('at')}{comment}")
    return "; ".join(parts)


def _summary(row: dict[str, Any]) -> str:
    status = visible(row.get("status"))
    text = f"request {visible(row.get('id'))} for profile {visible(row.get('profile'))}: {status}"
    if status == "approved" and row.get("ends_at"):
        text += f", usable until {visible(row.get('ends_at'))}"
    elif status == "pending":
        text += f", waits for approval until {visible(row.get('pending_until'))}"
    return text


REQUESTS = Listing(
    key="requests",
    noun="access requests for",
    columns=(
        Column("id", key=True),
        Column("requester", key=True),
        Column("profile", key=True),
        Column("status", key=True),
        Column("ends_at", "usable until"),
        Column("justification"),
        Column("decided_by", "decisions"),
    ),
    csv_fields=CSV_FIELDS,
    prepare=_table_row,
)


@click.command("request")
@click.option("--profile", required=True, help="The require_approval profile to ask for.")
@click.option(
    "--justification",
    required=True,
    help="Why you need it (10 to 500 characters; approvers see it).",
)
@click.option(
    "--duration", default=None, help="How long, once approved (e.g. 1h; at most the policy's max)."
)
@format_option("human", "json")
@_remote_option
@common_options
@pass_app
def request(
    app: App,
    profile: str,
    justification: str,
    duration: str | None,
    fmt: str,
    remote: str | None,
) -> int:
    """Ask for access to a profile that needs approval; prints the request id."""
    if not 10 <= len(justification.strip()) <= 500:
        raise UsageError(
            "the justification must be 10 to 500 characters (BadJustification)",
            hint='Say what you need the access for, e.g. --justification "fix INC-1234"',
        )
    seconds = None
    if duration is not None:
        seconds = int(parse_duration(duration, what="--duration").total_seconds())
    answer = _client(app, remote).request_access(profile, justification, seconds)
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
        return 0

    click.echo(_summary(answer))
    click.echo(visible(answer.get("id")))
    return 0


@click.command("requests")
@click.option("--mine", is_flag=True, help="Only your own requests.")
@click.option("--pending", is_flag=True, help="Only pending requests you may decide.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@format_option("human", "json", "csv")
@_remote_option
@common_options
@pass_app
def requests(
    app: App, mine: bool, pending: bool, status: str | None, fmt: str, remote: str | None
) -> int:
    """List access requests you made or may decide."""
    answer = _client(app, remote).access_requests(mine=mine, pending=pending, status=status)
    show_listing(answer, REQUESTS, fmt)
    return 0


def _decide(app: App, request_id: str, action: str, comment: str | None, remote: str | None) -> int:
    _check_id(request_id)
    if comment is not None and len(comment) > 500:
        raise UsageError("a comment is at most 500 characters (BadComment)")
    answer = _client(app, remote).decide_request(request_id, action, comment)
    click.echo(_summary(answer))
    return 0


@click.command("request-cancel")
@click.argument("request_id", metavar="ID")
@click.option("--comment", default=None, help="Why (recorded on the request).")
@_remote_option
@common_options
@pass_app
def request_cancel(app: App, request_id: str, comment: str | None, remote: str | None) -> int:
    """Cancel one of your access requests (an approved one ends, with its sessions)."""
    return _decide(app, request_id, "cancel", comment, remote)


@click.command("approve")
@click.argument("request_id", metavar="ID")
@click.option("--comment", default=None, help="Recorded on the request and in the service log.")
@_remote_option
@common_options
@pass_app
def approve(app: App, request_id: str, comment: str | None, remote: str | None) -> int:
    """Approve another user's access request (you must be one of its approvers)."""
    return _decide(app, request_id, "approve", comment, remote)


@click.command("deny")
@click.argument("request_id", metavar="ID")
@click.option("--comment", default=None, help="Recorded on the request and in the service log.")
@_remote_option
@common_options
@pass_app
def deny(app: App, request_id: str, comment: str | None, remote: str | None) -> int:
    """Deny another user's access request (you must be one of its approvers)."""
    return _decide(app, request_id, "deny", comment, remote)
