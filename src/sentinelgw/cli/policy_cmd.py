"""``sentinel policy validate`` and ``sentinel policy explain``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.cli.common import (
    App,
    common_options,
    debug_policy_option,
    format_option,
    pass_app,
)
from sentinelgw.cli.credential_options import remote_options
from sentinelgw.errors import ConfigError, PolicyInvalid
from sentinelgw.inert import visible
from sentinelgw.policy import Mode, Request, evaluate, explain_data, load_policy_text
from sentinelgw.policy.source import open_policy_source
from sentinelgw.service.remote import remote_client, resolve_remote
from sentinelgw.session_table import resolve_session_table
from sentinelgw.timeutil import format_duration, parse_point
from sentinelgw.wording import counted

if TYPE_CHECKING:
    from sentinelgw.policy.model import Policy


@click.group("policy")
@common_options
def policy() -> None:
    """Validate and explain policies."""


@policy.command("validate")
@click.argument("file", metavar="FILE")
@common_options
@pass_app
def validate(app: App, file: str) -> int:
    """Check a policy FILE, - for stdin, or ssm:/NAME (an SSM parameter). Exit 0 if valid,
    2 if not; every problem is listed."""
    name = "<stdin>" if file == "-" else file
    try:
        pol = _load(app, file, name)
    except PolicyInvalid as exc:
        for line in exc.problems:
            _say(line, err=True)  # problems quote the file's keys and values
        count = len(exc.problems)
        raise PolicyInvalid(
            f"{name} is invalid: {counted(count, 'problem')} (listed above)",
            problems=exc.problems,
        ) from None
    click.echo(f"{name}: valid, {_summary(pol)}")
    return 0


def _load(app: App, file: str, name: str) -> Policy:
    if file.startswith("ssm:"):
        return open_policy_source(file, app).current()
    try:
        raw = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(
            f"cannot read policy file {file}: {exc.strerror}", hint="Check the path"
        ) from None
    return load_policy_text(raw, name)


def _summary(pol: Policy) -> str:
    n = len(pol.rules)
    form = "policies:" if pol.syntax == "policies" else 'version: "1" / rules:'
    return f"{counted(n, 'rule')} ({form} form)"


@policy.command("explain")
@click.option("--profile", required=True, help="Profile being requested.")
@click.option("--user", default=None, help="AWS identity name (absent: unknown user).")
@click.option(
    "--mode",
    type=click.Choice(["cli", "server", "credential_process", "console"]),
    default="cli",
    show_default=True,
    help="How the credentials are requested.",
)
@click.option("--session-table", default=None, help="As given to sentinel exec --server.")
@click.option("--no-session-tracking", is_flag=True, help="As given to sentinel exec --server.")
@click.option(
    "--role-arn",
    default=None,
    metavar="ARN",
    help="The role the profile resolves to (rules may match role_arn).",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="ISO8601",
    help="Time of the request (default now), e.g. 2026-01-24T09:30:00Z.",
)
@click.option(
    "--policy",
    "policy_spec",
    default=None,
    metavar="SRC",
    help="Policy FILE or ssm:/NAME (default: policy_source or inline policy).",
)
@debug_policy_option
@format_option("human", "json")
@remote_options
@common_options
@pass_app
def explain(
    app: App,
    profile: str,
    user: str | None,
    mode: str,
    session_table: str | None,
    no_session_tracking: bool,
    role_arn: str | None,
    at_text: str | None,
    policy_spec: str | None,
    debug_policy: bool,
    fmt: str,
    remote: str | None,
    local: bool,
) -> int:
    """Say which rule decides a request and why each earlier rule did not. Exit 0 allow, 1 deny.

    With a credential service (--remote, SENTINEL_REMOTE or defaults.remote) the service
    decides, for you and now, as it would for exec (mode server unless --mode says otherwise);
    --local evaluates the local policy.
    """
    url = resolve_remote(app, remote, local)
    if url is not None:
        given = {
            "--user": user,
            "--session-table": session_table,
            "--no-session-tracking": no_session_tracking,
            "--role-arn": role_arn,
            "--at": at_text,
            "--policy": policy_spec,
        }
        for flag in (f for f, v in given.items() if v):
            app.note(f"note: {flag} is ignored with --remote: the service decides for you, now")
        return _explain_remote(app, url, profile, "server" if mode == "cli" else mode, fmt)

    now = app.now()
    at = parse_point(at_text, now=now, what="--at") if at_text else now
    source = open_policy_source(policy_spec, app, debug_policy=debug_policy)
    pol = source.current()
    table, table_source = resolve_session_table(
        session_table, app.env, app.config(), server_mode=mode == "server"
    )
    request = Request(
        profile=profile,
        user=user or None,
        mode=Mode(mode),
        at=at,
        session_table=table,
        session_table_source=table_source,
        no_session_tracking=no_session_tracking,
        role_arn=role_arn or None,
        config_session_table=app.config().default("session_table"),
    )
    decision = evaluate(pol, request)
    data = explain_data(decision, request)
    data["policy_source"] = source.describe()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        _render(data)
    return 0 if decision.allowed else 1


def _say(line: str, *, err: bool = False) -> None:
    """Echo a line quoting names from the request and the policy, control characters escaped."""
    click.echo(visible(line), err=err)


def _render(d: dict[str, Any]) -> None:
    user = d["user"] or "(unknown)"
    _say(
        f"request:  profile {d['profile']}, user {user}, mode {d['mode']}, at {d['at']}"
        + (f", role {d['role_arn']}" if d["role_arn"] else "")
        + (", --no-session-tracking" if d["no_session_tracking"] else "")
    )
    _say(f"policy:   {d['policy_source']}")
    for s in d["skipped"]:
        _say(f"skipped:  #{s['index'] + 1} {s['rule']}: {s['why']}")
    if d["rule"] is None:
        _say("decision: DENY (no rule matched; the default is deny)")
    else:
        verdict = "ALLOW" if d["effect"] == "allow" else "DENY"
        _say(
            f"decision: {verdict} by rule #{d['rule_index'] + 1} {d['rule']} "
            f"({d['rule_where']}), effect {d['rule_effect']}"
        )
    _say(f"reason:   {d['reason']}")
    table = d["session_table"]
    where = f" (from {d['session_table_source']})" if table else ""
    _say(f"table:    {table or 'none'}{where}; tracking {'on' if d['tracking'] else 'off'}")
    if d["max_server_duration"]:
        _say(f"max server credential lifetime: {d['max_server_duration']}")
    if d.get("requires_approval"):
        under = d.get("approved_request")
        _say(
            "approval: "
            + (f"under approved request {under}" if under else "an approved access request")
            + " (the credential service checks it)"
        )
    if d["message"]:
        _say(f"denied:   {d['message']}")


def _explain_remote(app: App, url: str, profile: str, mode: str, fmt: str) -> int:
    answer = remote_client(app, url).decisions(profile)
    found = [p for p in answer.get("profiles") or [] if isinstance(p, dict)]
    target = found[0] if found else {}
    d = dict((target.get("modes") or {}).get(mode) or {})
    allowed = bool(d.get("allowed"))
    data = {
        "decided_by": "service",
        "service": url,
        "profile": profile,
        "role_arn": target.get("role_arn"),
        "user": answer.get("user"),
        "caller_arn": answer.get("caller_arn"),
        "mode": mode,
        "policy_source": answer.get("policy_source"),
        "blocked": answer.get("blocked"),
        **d,
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return 0 if allowed else 1
    _say(
        f"request:  profile {profile}, user {data['user']} ({data['caller_arn']}), mode {mode}, "
        f"now, role {data['role_arn']}"
    )
    _say(f"decided:  by the credential service at {url} (policy {data['policy_source']})")
    verdict = "ALLOW" if allowed else "DENY"
    if d.get("rule"):
        _say(
            f"decision: {verdict} by rule #{d.get('rule_number')} {d['rule']}, effect {d['effect']}"
        )
    else:
        _say(f"decision: {verdict} (no rule matched; the default is deny)")
    _say(f"reason:   {d.get('reason')}")
    cap = d.get("max_server_duration_seconds")
    if cap:
        from datetime import timedelta

        _say(f"max server session: {format_duration(timedelta(seconds=int(cap)))}")
    if data["blocked"]:
        _say(f"blocked:  {data['blocked']}")
    if d.get("message"):
        _say(f"denied:   {d['message']}")
    return 0 if allowed else 1
