"""``sentinel server-revoke``: revoking sessions and users (the record, the IAM deny, the
block, and a revoked user's pending access requests cancelled), and ending every session of a
role (``--all-before``, an admin's explicit step, confirmed).

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions.revocation.revoke`,
:mod:`sentinelgw.service.requests` (cancelling requests) and, for role chains,
:mod:`sentinelgw.cli.revoke_chains`. Blocks are listed and lifted in
:mod:`sentinelgw.cli.blocks_cmd`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.awsclients import aws_call
from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.cli.revoke_chains import revoke_chains
from sentinelgw.cli.revoke_role import check_all_before_flags, revoke_all_before
from sentinelgw.cli.sessions_cmd import TABLE_HELP, check_session_id
from sentinelgw.errors import (
    HardRevocationError,
    RevocationIncomplete,
    SentinelError,
    SessionStoreError,
    UsageError,
)
from sentinelgw.inert import visible
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.request_table import cancel_user_requests
from sentinelgw.sessions.revocation.revoke import ended_sessions, revoke_session, revoke_user
from sentinelgw.sessions.revocation.role_deny import RoleQuotaFull
from sentinelgw.sessions.store import open_store
from sentinelgw.timeutil import iso, parse_duration

if TYPE_CHECKING:
    from sentinelgw.sessions.revocation.revoke import RevokeOutcome, RoleOutcome


@click.command("server-revoke")
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("--user", metavar="NAME", help="Revoke every active session of this user instead.")
@click.option(
    "--all-before",
    "all_before",
    metavar="TIME",
    help="Admin only: deny EVERY credential of --role issued before TIME (ISO 8601 or 'now'), "
    "whoever holds it, with AWS's AWSRevokeOlderSessions policy.",
)
@click.option(
    "--role",
    "role_ref",
    metavar="ROLE_ARN_OR_PROFILE",
    help="With --all-before: the role, as an ARN or an AWS profile with role_arn.",
)
@click.option(
    "--yes", "-y", is_flag=True, help="With --all-before: do not ask (needed without a TTY)."
)
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
@click.option(
    "--chains/--no-chains",
    default=True,
    help="Also deny the SourceIdentity on the roles the session chained into, found in "
    "CloudTrail (default: on, unless --soft).",
)
@click.option(
    "--audit-source",
    metavar="SRC",
    help="Where to read CloudTrail for role chains, as 'sentinel audit --source' "
    "(default: defaults.audit_source, then LookupEvents).",
)
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@common_options
@pass_app
def server_revoke(
    app: App,
    session_id: str | None,
    user: str | None,
    all_before: str | None,
    role_ref: str | None,
    yes: bool,
    block: bool,
    block_for: str | None,
    reason: str,
    soft: bool,
    chains: bool,
    audit_source: str | None,
    table: str | None,
) -> int:
    """Revoke a server session (or all of a user's): refused at the server, denied by IAM.

    With --all-before and --role (admin only): deny every credential of the role issued
    before a time, every user's. A full revocation policy never does that on its own.
    """

    if all_before is not None or role_ref is not None:
        check_all_before_flags(session_id, user, all_before, role_ref, block, block_for, soft)
        assert all_before is not None and role_ref is not None
        return revoke_all_before(app, all_before, role_ref, reason, yes)
    until = _check_revoke_flags(app, session_id, user, block, block_for, reason)
    store = open_store(app, table, None)
    region = app.region()[0]
    iam = None if soft else app.client("iam", region)
    who = _caller(app, region)

    now = app.now()
    kw: dict[str, Any] = {
        "by": str(who["Arn"]),
        "reason": reason.strip(),
        "now": now,
        "soft": soft,
        # Every IAM write drops the entries of sessions whose credentials have all expired.
        "ended": ended_sessions(store, now),
    }
    roles: tuple[RoleOutcome, ...] = ()
    table_errors: tuple[Any, ...] = ()
    cancel_error: str | None = None
    if session_id is not None:
        outcomes: tuple[RevokeOutcome, ...] = (revoke_session(store, iam, session_id, **kw),)
    else:
        assert user is not None
        result = revoke_user(store, iam, user, block=block, block_until=until, **kw)
        outcomes, roles, table_errors = result.sessions, result.roles, result.table_errors
        _report_user(user, result)
        cancel_error = _cancel_requests(store, user, kw)
    for outcome in outcomes:
        _report_revoke(outcome)
    failed: list[Any] = [o for o in outcomes if o.iam_error is not None]
    failed += _report_roles(roles, user)
    gaps = (
        revoke_chains(app, iam, who, region, outcomes, audit_source, now, kw["ended"])
        if chains and not soft
        else []
    )
    _raise_failures(user, table_errors, failed, gaps, cancel_error)
    return 0


def _caller(app: App, region: str | None) -> dict[str, Any]:
    sts = app.client("sts", region)
    with aws_call("sts", "GetCallerIdentity"):
        who: dict[str, Any] = sts.get_caller_identity()
    return who


def _report_user(user: str, result: Any) -> None:
    if result.block is not None:
        click.echo(
            f"blocked user {user} {_until(result.block.until)}: new sessions are "
            "refused (the credential service enforces it; local mode checks it "
            "before each session)"
        )
    outcomes = result.sessions
    ended = sum(1 for o in outcomes if o.ended_early)
    click.echo(
        f"{len(outcomes)} active session{'s' if len(outcomes) != 1 else ''} "
        f"of user {visible(user)} revoked"
        + (
            f" ({ended} of them had ended while credentials they issued may still be valid)"
            if ended
            else ""
        )
    )


def _cancel_requests(store: Any, user: str, kw: dict[str, Any]) -> str | None:
    """Cancel the user's pending access requests (issue 21); the error, if any."""

    try:
        cancelled = cancel_user_requests(
            store.client, store.table, user, by=kw["by"], reason=kw["reason"], now=kw["now"]
        )
    except (Refusal, SentinelError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        click.echo(f"  pending access requests of user {visible(user)} NOT cancelled", err=True)
        return str(message)
    if cancelled:
        click.echo(
            f"cancelled {len(cancelled)} pending access request"
            f"{'s' if len(cancelled) != 1 else ''} of user {visible(user)}: " + ", ".join(cancelled)
        )
    return None


def _report_roles(roles: tuple[RoleOutcome, ...], user: str | None) -> list[Any]:
    failed: list[Any] = []
    for role in roles:
        if role.sessions:
            continue  # reported with its sessions
        if role.error is not None:
            click.echo(f"  NOT denied by IAM on role {role.role_arn}: {role.error}", err=True)
            failed.append(role)
        elif role.result is not None:
            click.echo(
                f"also denied by IAM on role {role.role_arn}, where user {visible(user or '')} "
                f"had recent sessions: every credential of the user issued before "
                f"{_iso(role.result.wildcard_before)} ({role.result.wildcard})"
            )
    return failed


def _raise_failures(
    user: str | None,
    table_errors: tuple[Any, ...],
    failed: list[Any],
    gaps: list[str],
    cancel_error: str | None,
) -> None:
    if table_errors:
        raise SessionStoreError(
            f"{len(table_errors)} session record{'s' if len(table_errors) > 1 else ''} of user "
            f"{visible(user or '')} could not be revoked ({table_errors[0]}); the others were",
            hint="Fix the cause and run the same command again: it is safe to repeat",
        )
    _raise_if_full(failed)
    if failed:
        first = getattr(failed[0], "iam_error", None) or getattr(failed[0], "error", None)
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
    if gaps:
        raise RevocationIncomplete(
            f"revocation incomplete: the SourceIdentity is not denied on "
            f"{', '.join(gaps)}; credentials chained there keep working until they expire",
            hint="Fix what each line above names and run the revoke again (it is safe to "
            "repeat), or deny it organisation-wide with 'sentinel init revocation-scp'",
        )
    if cancel_error:
        raise SessionStoreError(
            f"the sessions were revoked, but the pending access requests of user "
            f"{visible(user or '')} could not be cancelled ({cancel_error})",
            hint="Run the same command again (it is safe to repeat), or cancel them with "
            "sentinel request-cancel ID",
        )


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
            "give either a session ID, --user NAME or --all-before TIME --role ROLE",
            hint="Revoke one session by id, every active session of a user, or (admin) every "
            "session of a role",
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

    return app.now() + parse_duration(block_for, what="--for")


def _report_revoke(outcome: RevokeOutcome) -> None:
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
            f"{iso(rec.credentials_end())}"
        )
    elif outcome.iam is not None:
        res = outcome.iam
        if res.wildcard is not None:
            what = (
                f"every credential of user {visible(rec.user)} issued before "
                f"{iso(res.wildcard_before)} is denied ({res.wildcard})"
            )
        else:
            what = f"SourceIdentity {res.source_identity} is denied"
        click.echo(
            f"  denied by IAM: policy {res.policy_name} on role {res.role_arn} ({what}; "
            "AWS applies policy changes within seconds to a few minutes)"
        )
    elif outcome.iam_error is not None:
        click.echo(f"  NOT denied by IAM: {outcome.iam_error}", err=True)


def _iso(when: datetime | None) -> str:
    return iso(when) or "?"


def _raise_if_full(failed: list[Any]) -> None:
    """One line for sessions left undenied because a role's quota is full: the roles and the
    fix. Sentinel never ends a role's other sessions on its own (``--all-before`` does)."""

    errors = [getattr(f, "iam_error", None) or getattr(f, "error", None) for f in failed]
    full = [e for e in errors if isinstance(e, RoleQuotaFull)]
    if not full:
        return
    roles = sorted({e.role_arn for e in full})
    count = sum(1 for e in errors if isinstance(e, RoleQuotaFull))
    raise RoleQuotaFull(
        f"policy SentinelRevokedSessions is full on role {', '.join(roles)}: {count} "
        f"session{'s' if count != 1 else ''} NOT denied by IAM (never widened to every session "
        "of the role on its own); the records stay revoked, and credentials already issued keep "
        "working until they expire",
        role_arn=roles[0],
        hint=f"To end every session of the role, run: sentinel server-revoke --all-before now "
        f"--role {roles[0]} --reason TEXT",
    )


def _until(when: datetime | None) -> str:
    return f"until {iso(when)}" if when is not None else "until it is lifted"
