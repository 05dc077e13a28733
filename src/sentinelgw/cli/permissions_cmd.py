"""``sentinel permissions [list|check]``: the IAM each principal of a deployment needs.

Parsing and rendering only; the documents come from :mod:`sentinelgw.service.deploy.permissions`,
the same builders as the template. ``list`` (the default) prints them; ``check --as PROFILE``
says whether the identity behind PROFILE holds them: exit 0 when it does, 1 naming what is
missing, 2 when AWS could not be asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sentinelgw.awsclients import aws_call, client, error_code
from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.cli.tvm_deploy_cmd import deployment_names, service_extras
from sentinelgw.errors import SentinelError, UsageError
from sentinelgw.service.deploy import permission_check as pc
from sentinelgw.service.deploy import permissions as p
from sentinelgw.service.deploy.code_bucket import default_bucket
from sentinelgw.service.deploy.principals import read_account
from sentinelgw.service.deploy.spec import DeploySpec

F = TypeVar("F", bound=Callable[..., Any])
PRINCIPALS = ("service", "security", "users", "deployer")
FORMATS = ("human", "json", "cloudformation", "terraform")


def _deployment_options(fn: F) -> F:
    options = [
        click.option(
            "--for",
            "principals",
            multiple=True,
            type=click.Choice(PRINCIPALS),
            help="Whose permissions: service, security, users, deployer (default: all; "
            "for check: deployer). Repeatable.",
        ),
        click.option("--table", metavar="NAME", help="The session table (as for init tvm)."),
        click.option(
            "--policy-parameter", metavar="NAME", help="The policy parameter (as for init tvm)."
        ),
        click.option("--name", metavar="NAME", help="The deployment's name (as for init tvm)."),
        click.option(
            "--protect-role",
            "protect_roles",
            multiple=True,
            metavar="ARN",
            help="A protected role (as for init tvm). Repeatable.",
        ),
        click.option("--code-bucket", metavar="BUCKET", help="The code bucket (as for init tvm)."),
        click.option(
            "--notify-topic", metavar="ARN", help="The notification topic (as for init tvm)."
        ),
        click.option(
            "--identity-store",
            metavar="ID",
            help="The approvers' identity store (as for init tvm).",
        ),
        click.option(
            "--mfa-role", metavar="ARN", help="The break-glass MFA role (as for init tvm)."
        ),
        click.option(
            "--account",
            metavar="ID",
            help="The account (default: the caller's, from STS; <account> without credentials).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(invoke_without_command=True)
@_deployment_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="human", show_default=True)
@common_options
@pass_app
@click.pass_context
def permissions(ctx: click.Context, /, app: App, fmt: str, **names: Any) -> int:
    """The IAM each principal of a deployment needs (default: list)."""
    if ctx.invoked_subcommand is not None:
        return 0
    return _list(app, fmt, **names)


@permissions.command("list")
@_deployment_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="human", show_default=True)
@common_options
@pass_app
def list_(app: App, fmt: str, **names: Any) -> int:
    """Print the IAM each principal needs, as text, JSON, CloudFormation or Terraform."""
    return _list(app, fmt, **names)


def _list(
    app: App,
    fmt: str,
    *,
    principals: tuple[str, ...],
    code_bucket: str | None,
    account: str | None,
    **names: Any,
) -> int:
    chosen = tuple(dict.fromkeys(principals)) or PRINCIPALS
    if fmt == "cloudformation":
        spec = _spec(app, account or "", **names)
        click.echo(json.dumps(p.cloudformation_template(spec, chosen, code_bucket), indent=2))
        return 0
    if fmt == "terraform":
        spec = _spec(app, account or "", **names)
        click.echo(p.render_terraform(spec, chosen, code_bucket), nl=False)
        return 0
    spec = _spec(app, account or _account(app), **names)
    target = p.Target(spec, code_bucket or default_bucket(spec))
    text = p.render_json(target, chosen) if fmt == "json" else p.render_human(target, chosen)
    click.echo(text, nl=False)
    return 0


@permissions.command("check")
@click.option(
    "--as",
    "as_profile",
    required=True,
    metavar="PROFILE",
    help="The AWS profile whose identity is checked.",
)
@_deployment_options
@click.option(
    "--format", "fmt", type=click.Choice(("human", "json")), default="human", show_default=True
)
@common_options
@pass_app
def check(
    app: App,
    as_profile: str,
    fmt: str,
    principals: tuple[str, ...],
    code_bucket: str | None,
    account: str | None,
    **names: Any,
) -> int:
    """Whether PROFILE's identity holds a principal's permissions (exit 1 naming what is not)."""
    if len(set(principals)) > 1:
        raise UsageError("check one principal at a time: give --for once")
    principal = principals[0] if principals else "deployer"
    region = app.region()[0]
    sts = client("sts", profile=as_profile, region=region)
    with aws_call("sts", "GetCallerIdentity"):
        who: dict[str, Any] = sts.get_caller_identity()
    spec = _spec(app, account or str(who["Account"]), **names)
    target = p.Target(spec, code_bucket or default_bucket(spec))
    wanted = pc.needs(principal, target)
    iam = app.client("iam", region)
    arn = pc.principal_arn(iam, str(who["Arn"]))
    try:
        verdicts = pc.simulate(iam, arn, wanted)
        method = "iam:SimulatePrincipalPolicy"
    except Exception as exc:  # denied to the caller, or not implemented: read the policies
        reason = error_code(exc) or f"no usable answer, {type(exc).__name__}"
        verdicts = pc.evaluate_read(read_account(iam), arn, wanted)
        method = (
            f"its identity policies (iam:SimulatePrincipalPolicy unavailable: {reason}; "
            "SCPs, boundaries and conditions not evaluated)"
        )
    missing = [v for v in verdicts if not v.allowed]
    if fmt == "json":
        payload = {
            "principal": principal,
            "arn": arn,
            "method": method,
            "results": [
                {"action": v.need.action, "resource": v.need.resource, "allowed": v.allowed}
                for v in verdicts
            ],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"{principal} permissions for {arn}, from {method}:")
        for v in missing:
            click.echo(f"  missing  {v.need.action} on {v.need.resource}")
        if missing:
            click.echo(f"{len(missing)} of {len(verdicts)} permission(s) missing")
        else:
            click.echo(f"ok: all {len(verdicts)} permission(s) held")
    return 1 if missing else 0


def _spec(
    app: App,
    account: str,
    *,
    table: str | None,
    policy_parameter: str | None,
    name: str | None,
    protect_roles: tuple[str, ...],
    notify_topic: str | None = None,
    identity_store: str | None = None,
    mfa_role: str | None = None,
) -> DeploySpec:
    extras = service_extras(notify_topic, identity_store, mfa_role)
    return DeploySpec(
        region=app.region()[0] or "<region>",
        account=account,
        **deployment_names(app, table, policy_parameter, name),
        protected_roles=tuple(dict.fromkeys(protect_roles)),
        sns_topic_arn=extras["sns_topic_arn"],
        identity_store_id=extras["identity_store_id"],
        mfa_role_arn=extras["mfa_role_arn"],
    )


def _account(app: App) -> str:
    """The caller's account, or ``<account>`` when there are no usable credentials."""
    try:
        sts = app.client("sts", app.region()[0])
        with aws_call("sts", "GetCallerIdentity"):
            who: dict[str, Any] = sts.get_caller_identity()
    except SentinelError:
        click.echo("  ! account unknown (no usable credentials): pass --account", err=True)
        return "<account>"
    return str(who["Account"])
