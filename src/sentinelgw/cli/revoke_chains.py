"""Role chains of revoked sessions, for ``sentinel server-revoke``: find the roles the revoked
sessions chained into (CloudTrail) and deny them there too, then report each.

Rendering only; the work is in :mod:`sentinelgw.audit.chains`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.audit.chains import beyond_bound, deny_chained, find_chained_roles, role_key
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.run import AuditInput, open_events
from sentinelgw.audit.window import Window
from sentinelgw.awsclients import aws_call, client, new_session
from sentinelgw.cli.common import App
from sentinelgw.errors import HardRevocationError, SentinelError
from sentinelgw.inert import visible
from sentinelgw.sessions.model import CLOCK_SKEW
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.sessions.revocation.revoke import RevokeOutcome


def revoke_chains(
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
    inp = AuditInput(window=Window(since, now), source=source, region=region)
    return open_events(app, inp, ParseStats())


def _iam_for(app: App, iam: Any, account: str, region: str | None) -> Any:
    """The IAM client for a chained role: the revoker's in their own account, else one acting
    through ``defaults.revoker_roles`` for that account (assumed once per account)."""

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
            sts = app.client("sts", region)
            with aws_call("sts", "AssumeRole", via):
                creds = sts.assume_role(
                    RoleArn=via, RoleSessionName="sentinel-revoke", DurationSeconds=900
                )["Credentials"]
            session = new_session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
            clients[acct] = client("iam", session=session, region=region)
        return clients[acct]

    return iam_for
