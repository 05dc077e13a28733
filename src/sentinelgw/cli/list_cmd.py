"""``sentinel list``: the AWS profiles, their kind, the policy's answer in each mode, and
whether cached credentials exist."""

from __future__ import annotations

import json

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.credential_options import remote_options
from sentinelgw.cli.tables import Column, render
from sentinelgw.credentials.overview import decision_cell, overview, rule_legend
from sentinelgw.errors import NoPolicyConfigured
from sentinelgw.inert import visible
from sentinelgw.policy.source import open_policy_source
from sentinelgw.service.remote import decision_text, remote_client, resolve_remote
from sentinelgw.wording import counted

HEADERS = {"credential_process": "process"}


@click.command("list")
@click.option(
    "--user",
    metavar="NAME",
    help="Evaluate the policy for this AWS user (default: unknown, so rules that name users "
    "do not match).",
)
@click.option("--policy", "policy_spec", metavar="SRC", help="Policy file or ssm:/parameter.")
@format_option("human", "json")
@remote_options
@common_options
@pass_app
def list_(
    app: App,
    user: str | None,
    policy_spec: str | None,
    fmt: str,
    remote: str | None,
    local: bool,
) -> int:
    """List AWS profiles with their kind, the rule deciding each mode, and the cache.

    With a credential service (--remote, SENTINEL_REMOTE or defaults.remote) the profiles are
    the service's and each decision is the service's for you; --local lists local ones.
    """
    url = resolve_remote(app, remote, local)
    if url is not None:
        return _list_remote(app, url, user, policy_spec, fmt)

    try:
        policy = open_policy_source(policy_spec, app).current()
    except NoPolicyConfigured as exc:
        policy = None  # a fresh machine: the profiles still, each with "no policy"
        if fmt != "json":
            app.note(f"note: {exc}")
    rows = overview(app, policy, user, app.now())
    if fmt == "json":
        doc = [
            {
                "profile": r.name,
                "kind": r.kind,
                "modes": {
                    mode.value: {
                        "allowed": d.allowed,
                        "rule": d.rule.name if d.rule else None,
                        "rule_number": d.rule.index + 1 if d.rule else None,
                    }
                    for mode, d in r.decisions
                },
                "cached": r.cached,
                "policy": policy is not None,
            }
            for r in rows
        ]
        click.echo(json.dumps(doc, indent=2))
        return 0
    if not rows:
        click.echo("no AWS profiles (see AWS_CONFIG_FILE, default ~/.aws/config)")
        return 0

    modes = [mode for mode, _ in rows[0].decisions]
    columns = [Column("profile", key=True), Column("kind", key=True)]
    # credential_process is the widest header: "process" keeps the five modes within 80.
    columns += [Column(m.value, HEADERS.get(m.value, ""), key=True) for m in modes]
    if policy is None:
        columns.append(Column("policy", key=True))
    columns.append(Column("cached", key=True))
    table = []
    for r in rows:
        row: dict[str, str] = {"profile": r.name, "kind": r.kind}
        row.update({m.value: decision_cell(d) for m, d in r.decisions})
        if policy is None:
            row["policy"] = "no policy"
        row["cached"] = "yes" if r.cached else "no"
        table.append(row)

    who = f"user {user}" if user else "an unknown user"
    title = f"{counted(len(rows), 'profile')}, policy for {who}"
    if policy is None:
        title = f"{counted(len(rows), 'profile')}, no policy configured"
    render(table, columns, title=title)
    if policy is not None:
        click.echo(visible(rule_legend(rows)))
    return 0


def _list_remote(app: App, url: str, user: str | None, policy_spec: str | None, fmt: str) -> int:
    for flag, given in (("--user", user), ("--policy", policy_spec)):
        if given:
            app.note(f"note: {flag} is ignored with --remote: the service decides for you")
    answer = remote_client(app, url).decisions()
    profiles = [p for p in answer.get("profiles") or [] if isinstance(p, dict)]
    if fmt == "json":
        doc = {
            "decided_by": "service",
            "service": url,
            "user": answer.get("user"),
            "caller_arn": answer.get("caller_arn"),
            "policy_source": answer.get("policy_source"),
            "blocked": answer.get("blocked"),
            "profiles": profiles,
        }
        click.echo(json.dumps(doc, indent=2))
        return 0
    who = visible(str(answer.get("user") or "?"))
    if not profiles:
        click.echo(f"the service at {visible(url)} serves no profiles")
        return 0

    modes = ("server", "credential_process", "console")
    columns = [Column("profile", key=True), *(Column(m, key=True) for m in modes)]
    columns.append(Column("role_arn"))
    table = []
    for p in profiles:
        row = {"profile": p.get("profile"), "role_arn": p.get("role_arn")}
        decided = p.get("modes") or {}
        row.update({m: decision_text(decided.get(m) or {}) for m in modes})
        table.append(row)

    render(
        table,
        columns,
        title=f"{counted(len(profiles), 'profile')} decided by the service at {visible(url)} "
        f"for {who}",
    )
    if answer.get("blocked"):
        click.echo(f"blocked: {visible(str(answer['blocked']))}")
    return 0
