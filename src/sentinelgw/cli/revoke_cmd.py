"""``sentinel server-revoke``, ``server-unblock`` and ``server-blocks``: revoking sessions and
users (the record, the IAM deny, the block), ending every session of a role (``--all-before``,
an admin's explicit step, confirmed) and listing blocks.

Parsing and rendering only; the work is in :mod:`sentinelgw.sessions.revocation.revoke` and
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
from sentinelgw.errors import (
    HardRevocationError,
    RevocationIncomplete,
    SessionNotFound,
    SessionStoreError,
    UsageError,
)
from sentinelgw.inert import visible

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
    from sentinelgw.awsclients import call
    from sentinelgw.sessions.store import open_store

    if all_before is not None or role_ref is not None:
        _check_all_before_flags(session_id, user, all_before, role_ref, block, block_for, soft)
        assert all_before is not None and role_ref is not None
        return _revoke_all_before(app, all_before, role_ref, reason, yes)
    until = _check_revoke_flags(app, session_id, user, block, block_for, reason)
    store = open_store(app, table, None)
    region = app.region()[0]
    sts = app.client("sts", region)
    iam = None if soft else app.client("iam", region)
    who: dict[str, Any] = call("sts", "GetCallerIdentity", lambda: sts.get_caller_identity())
    from sentinelgw.sessions.revocation.revoke import ended_sessions

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
    if session_id is not None:
        from sentinelgw.sessions.revocation.revoke import revoke_session

        outcomes: tuple[RevokeOutcome, ...] = (revoke_session(store, iam, session_id, **kw),)
    else:
        from sentinelgw.sessions.revocation.revoke import revoke_user

        assert user is not None
        result = revoke_user(store, iam, user, block=block, block_until=until, **kw)
        outcomes = result.sessions
        roles = result.roles
        table_errors = result.table_errors
        if result.block is not None:
            click.echo(
                f"blocked user {user} {_until(result.block.until)}: new sessions are "
                "refused (the credential service enforces it; local mode checks it "
                "before each session)"
            )
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
    for outcome in outcomes:
        _report_revoke(outcome)
    failed: list[Any] = [o for o in outcomes if o.iam_error is not None]
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
    gaps = (
        _revoke_chains(app, iam, who, region, outcomes, audit_source, now, kw["ended"])
        if chains and not soft
        else []
    )
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
    return 0


def _revoke_chains(
    app: App,
    iam: Any,
    who: dict[str, Any],
    region: str | None,
    outcomes: tuple[RevokeOutcome, ...],
    audit_source: str | None,
    now: datetime,
    ended: Any = None,
) -> list[str]:
    """Find the roles the revoked sessions chained into and deny them there; report each.

    Returns what stays undenied (role ARNs, or the audit source that could not be read)."""
    from sentinelgw.audit.chains import beyond_bound, deny_chained, find_chained_roles
    from sentinelgw.errors import SentinelError
    from sentinelgw.sessions.model import CLOCK_SKEW
    from sentinelgw.timeutil import iso

    live = [o.record for o in outcomes if not o.soft and not o.lapsed and o.record.source_identity]
    if not live:
        return []
    origins = {r.source_identity: r.role_arn for r in live}
    since = min(r.started_at for r in live) - CLOCK_SKEW
    source = audit_source or app.config().default("audit_source")
    where = f"CloudTrail ({source or 'LookupEvents'}) since {iso(since)}"
    try:
        within, beyond = find_chained_roles(_chain_events(app, source, region, since, now), origins)
    except SentinelError as exc:
        click.echo(f"role chains: NOT searched: {exc}", err=True)
        return [f"any role chained from it ({where} could not be read)"]
    if not within and not beyond:
        click.echo(f"role chains: none found in {where}")
        return []
    account = str(who.get("Account") or "")
    results = deny_chained(within, _iam_for(app, iam, account, region), now=now, ended=ended) + [
        beyond_bound(r) for r in beyond
    ]
    click.echo(f"role chains found in {where}: {len(results)}")
    gaps: list[str] = []
    for chained in results:
        role = chained.role
        hops = (
            f"{role.depth} hop{'s' if role.depth != 1 else ''} from {visible(role.via)}"
            if role.depth is not None and role.via
            else "reached by a hop not in the events"
        )
        if chained.result is not None:
            res = chained.result
            what = (
                f"every credential of the user issued before {iso(res.wildcard_before)}"
                if res.wildcard
                else f"SourceIdentity {', '.join(role.source_identities)}"
            )
            click.echo(
                f"  denied by IAM on chained role {res.role_arn} ({hops}): policy "
                f"{res.policy_name} ({what} is denied)"
            )
        else:
            click.echo(
                f"  NOT denied on chained role {visible(role.role_arn)} ({hops}): {chained.error}",
                err=True,
            )
            gaps.append(visible(role.role_arn))
    return gaps


def _chain_events(
    app: App, source: str | None, region: str | None, since: datetime, now: datetime
) -> Any:
    from sentinelgw.audit.events import ParseStats
    from sentinelgw.audit.run import AuditInput, open_events
    from sentinelgw.audit.window import Window

    inp = AuditInput(window=Window(since, now), source=source, region=region)
    return open_events(app, inp, ParseStats())


def _iam_for(app: App, iam: Any, account: str, region: str | None) -> Any:
    """The IAM client for a chained role: the revoker's in their own account, else one acting
    through ``defaults.revoker_roles`` for that account (assumed once per account)."""
    from sentinelgw.audit.chains import role_key
    from sentinelgw.awsclients import call

    configured = {str(k): str(v) for k, v in (app.config().default("revoker_roles") or {}).items()}
    clients: dict[str, Any] = {}

    def iam_for(role_arn: str) -> Any:
        key = role_key(role_arn)
        acct = key[0] if key else ""
        if acct == account:
            return iam
        via = configured.get(acct)
        if via is None:
            raise HardRevocationError(
                f"role {role_arn} is in account {acct}, and no role to act through is "
                "configured there",
                hint=f"Set defaults.revoker_roles.'{acct}' to a role in that account with the "
                "revoker's IAM permissions",
            )
        if acct not in clients:
            import boto3

            from sentinelgw.awsclients import client

            sts = app.client("sts", region)
            creds = call(
                "sts",
                "AssumeRole",
                lambda: sts.assume_role(
                    RoleArn=via, RoleSessionName="sentinel-revoke", DurationSeconds=900
                ),
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
            clients[acct] = client("iam", session=session, region=region)
        return clients[acct]

    return iam_for


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
    from sentinelgw.timeutil import iso

    return iso(when) or "?"


def _raise_if_full(failed: list[Any]) -> None:
    """One line for sessions left undenied because a role's quota is full: the roles and the
    fix. Sentinel never ends a role's other sessions on its own (``--all-before`` does)."""
    from sentinelgw.sessions.revocation.role_deny import RoleQuotaFull

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


def _check_all_before_flags(
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

    from sentinelgw.sessions.model import CLOCK_SKEW

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
    from sentinelgw.credentials.profiles import load_profile

    arn = load_profile(role).role_arn
    if not arn:
        raise UsageError(
            f"AWS profile {visible(role)!r} has no role_arn",
            hint="Give the role's ARN, or a profile with role_arn",
        )
    return arn


def _revoke_all_before(app: App, when_text: str, role: str, reason: str, yes: bool) -> int:
    """``--all-before``: write AWSRevokeOlderSessions on the role, once confirmed."""
    from sentinelgw.awsclients import call
    from sentinelgw.sessions.revocation.role_deny import revoke_older_sessions, role_name_from_arn
    from sentinelgw.timeutil import iso

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
    who: dict[str, Any] = call("sts", "GetCallerIdentity", lambda: sts.get_caller_identity())
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


def _until(when: datetime | None) -> str:
    from sentinelgw.timeutil import iso

    return f"until {iso(when)}" if when is not None else "until it is lifted"


@click.command("revocation-scp")
@click.option("--table", metavar="NAME", help=TABLE_HELP)
@common_options
@pass_app
def init_revocation_scp(app: App, table: str | None) -> int:
    """Print an SCP denying revoked sessions, organisation-wide."""
    from datetime import timedelta

    from sentinelgw.sessions.revocation.deny_document import compact
    from sentinelgw.sessions.scp import SCP_QUOTA_CHARS, revoked_live, scp_document
    from sentinelgw.sessions.store import open_store
    from sentinelgw.timeutil import iso

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
