"""``sentinel server-revoke --all-before TIME --role ROLE``: an admin's explicit step that
denies every credential of a role issued before a time (AWS's ``AWSRevokeOlderSessions``),
confirmed first.

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions.revocation.role_deny`.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from sentinelgw.awsclients import aws_call
from sentinelgw.cli.common import App
from sentinelgw.credentials.profiles import load_profile
from sentinelgw.errors import UsageError
from sentinelgw.inert import visible
from sentinelgw.sessions.model import CLOCK_SKEW
from sentinelgw.sessions.revocation.role_deny import revoke_older_sessions, role_name_from_arn
from sentinelgw.timeutil import iso


def _iso(when: datetime | None) -> str:
    return iso(when) or "?"


def check_all_before_flags(
    session_id: str | None,
    user: str | None,
    all_before: str | None,
    role: str | None,
    block: bool,
    block_for: str | None,
    soft: bool,
) -> None:
    if all_before is None or role is None:
        raise UsageError(
            "--all-before and --role go together",
            hint="End every session of a role with: sentinel server-revoke --all-before now "
            "--role ROLE --reason TEXT",
        )
    if session_id is not None or user is not None or block or block_for or soft:
        raise UsageError(
            "--all-before cannot be combined with a session ID, --user, --block, --for or --soft",
            hint="Run the role-wide revocation on its own",
        )


def _parse_before(app: App, text: str) -> datetime:
    """``now`` or an ISO 8601 time (a time without a zone is UTC); never in the future."""
    from datetime import UTC

    now = app.now()
    if text.strip().lower() == "now":
        return now
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--all-before {visible(text[:60])!r} is not a time",
            hint="Give 'now' or an ISO 8601 time such as 2026-12-01T14:00:00Z",
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now + CLOCK_SKEW:
        raise UsageError(
            f"--all-before {when.strftime('%Y-%m-%dT%H:%M:%SZ')} is in the future: it would "
            "also deny sessions not started yet",
            hint="Give 'now' or a past time",
        )
    return when


def _role_arn(role: str) -> str:
    if role.startswith("arn:"):
        return role

    arn = load_profile(role).role_arn
    if not arn:
        raise UsageError(
            f"AWS profile {visible(role)!r} has no role_arn",
            hint="Give the role's ARN, or a profile with role_arn",
        )
    return arn


def revoke_all_before(app: App, when_text: str, role: str, reason: str, yes: bool) -> int:
    """``--all-before``: write AWSRevokeOlderSessions on the role, once confirmed."""

    if not reason.strip():
        raise UsageError("--reason must not be empty", hint="Say why every session is ended")
    before = _parse_before(app, when_text)
    role_arn = _role_arn(role)
    role_name_from_arn(role_arn)  # refuses what IAM will not edit, before asking
    click.echo(
        f"this denies EVERY credential of role {visible(role_arn)} issued before {iso(before)}, "
        "whoever holds it (every user's sessions, servers and the credential service's), with "
        "AWS's AWSRevokeOlderSessions policy; new sessions are not affected"
    )
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "not ending every session of the role without confirmation",
                hint="Re-run with --yes (stdin is not a terminal)",
            )
        if not click.confirm("End every session of the role issued before that time?"):
            click.echo("nothing changed")
            return 0
    region = app.region()[0]
    sts = app.client("sts", region)
    with aws_call("sts", "GetCallerIdentity"):
        who: dict[str, Any] = sts.get_caller_identity()
    result = revoke_older_sessions(app.client("iam", region), role_arn, before, now=app.now())
    if result.outcome == "present":
        click.echo(
            f"already denied: policy {result.policy_name} on role {result.role_arn} denies every "
            f"credential issued before {_iso(result.wildcard_before)} (nothing written)"
        )
        return 0
    if result.pruned:
        click.echo(
            f"removed policy SentinelRevokedSessions from role {result.role_arn} to make room "
            f"(its {result.pruned} entries were all issued before that time)"
        )
    click.echo(
        f"wrote policy {result.policy_name} on role {result.role_arn}: every credential issued "
        f"before {_iso(result.wildcard_before)} is denied ({result.role_policy_chars} of "
        "10240 characters of inline policies; AWS applies policy changes within seconds to a "
        f"few minutes); by {visible(str(who['Arn']))}: {visible(reason.strip())}"
    )
    return 0
