"""``sentinel init tvm`` and ``sentinel tvm check``: deploying and verifying the service.

Parsing and rendering only; the work is in :mod:`sentinelgw.service.deploy`.

``init tvm`` deploys one CloudFormation stack through a change set (:mod:`.stack
<sentinelgw.service.deploy.stack>`), then sets the protected roles' trust policies (a separate
step, with its own confirmation). It shows what it would change and changes nothing without
confirmation: on a terminal it prompts; when stdin is not a terminal it needs ``--yes``,
otherwise it prints the plan and exits 2, as ``init sessions`` does. ``--plan`` prints the
change set and the trust-policy diffs, deletes the change set, and exits 0.

``tvm check`` exits 0 when the deployment is sound, 1 naming each problem, 2 when AWS could not
be asked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sentinelgw.awsclients import aws_call
from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.errors import DeployError, SentinelError, UsageError
from sentinelgw.service.approvals import SNS_ARN, STORE_ID
from sentinelgw.service.breakglass_rules import ROLE_ARN
from sentinelgw.service.deploy.aws import DeployClients
from sentinelgw.service.deploy.check import check_deployment
from sentinelgw.service.deploy.cloudformation import render
from sentinelgw.service.deploy.package import build_package
from sentinelgw.service.deploy.spec import DEFAULT_NAME, DEFAULT_POLICY_PARAMETER, DeploySpec
from sentinelgw.service.deploy.stack import StackDeployment
from sentinelgw.service.deploy.trust import apply_trust
from sentinelgw.service.policies import user_invoke_policy
from sentinelgw.sessions.store import DEFAULT_TABLE

if TYPE_CHECKING:
    from sentinelgw.service.deploy.stack_plan import StackPlan

_NAME_HELP = "Name of the function and of its execution role (default: sentinel-tvm)."
_TABLE_HELP = "Session table (default: defaults.session_table, then sentinel-sessions)."


@click.group()
@common_options
def tvm() -> None:
    """The Sentinel credential service."""


@click.command("tvm")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option(
    "--policy-parameter",
    metavar="NAME",
    help="SSM parameter holding the service's policy (default: /sentinel/tvm/policy).",
)
@click.option("--name", metavar="NAME", help=_NAME_HELP)
@click.option(
    "--protect-role",
    "protect_roles",
    multiple=True,
    metavar="ARN",
    help="A role only the service may assume; its trust policy is replaced. Repeatable.",
)
@click.option(
    "--notify-topic",
    metavar="ARN",
    help="The SNS topic of the document's notifications: the service may publish to it only.",
)
@click.option(
    "--identity-store",
    metavar="ID",
    help="The identity store of the document's group approvers (d-...): the service may "
    "read its users, groups and memberships only.",
)
@click.option(
    "--mfa-role",
    metavar="ARN",
    help="The document's breakglass.mfa_role: the service may read (iam:GetRole) that role only.",
)
@click.option("--plan", is_flag=True, help="Show what would be done; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required without a TTY).")
@click.option(
    "--generate-iam",
    is_flag=True,
    help="Print the IAM policy users need (invoke the service, nothing else).",
)
@click.option(
    "--output",
    type=click.Choice(["cloudformation"]),
    help="Write a CloudFormation template instead of provisioning.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --output: write the template to FILE instead of stdout.",
)
@click.option(
    "--package-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --output: also write the function zip to FILE, for CodeS3Bucket.",
)
@click.option(
    "--code-bucket",
    metavar="BUCKET",
    help="S3 bucket for the function code (default: sentinel-tvm-code-<account>-<region>, "
    "created if missing).",
)
@common_options
@pass_app
def init_tvm(
    app: App,
    table: str | None,
    policy_parameter: str | None,
    name: str | None,
    protect_roles: tuple[str, ...],
    notify_topic: str | None,
    identity_store: str | None,
    mfa_role: str | None,
    plan: bool,
    yes: bool,
    generate_iam: bool,
    output: str | None,
    out_file: Path | None,
    package_out: Path | None,
    code_bucket: str | None,
) -> int:
    """Deploy the Sentinel credential service as one CloudFormation stack (idempotent)."""
    if (out_file or package_out) and not output:
        raise UsageError("--out and --package-out go with --output cloudformation")
    if code_bucket and output:
        raise UsageError("--code-bucket goes with a deployment, not with --output")
    extras = service_extras(notify_topic, identity_store, mfa_role)
    if output:
        return _write_template(
            app, table, policy_parameter, name, protect_roles, out_file, package_out, extras
        )
    clients, spec = _resolve(app, table, policy_parameter, name, protect_roles, extras)
    if generate_iam:
        click.echo(json.dumps(user_invoke_policy(spec.function_arn), indent=2))
        return 0
    return _provision(clients, spec, plan=plan, yes=yes, bucket=code_bucket)


def _provision(
    clients: DeployClients, spec: DeploySpec, *, plan: bool, yes: bool, bucket: str | None
) -> int:
    deployment = StackDeployment(clients, spec, build_package(), bucket=bucket)
    found = deployment.plan()
    executed = False
    try:
        executed = _carry_out(deployment, found, clients, spec, plan=plan, yes=yes)
    finally:
        if not executed:
            _discard(deployment, found)
    return 0


def _carry_out(
    deployment: StackDeployment,
    found: StackPlan,
    clients: DeployClients,
    spec: DeploySpec,
    *,
    plan: bool,
    yes: bool,
) -> bool:
    """Show the plan and, once confirmed, deploy it; True once the change set was executed."""
    where = f"{spec.name} in {spec.region}, account {spec.account}"
    for warning in found.warnings:
        click.echo(f"  ! warning: {warning}", err=True)
    if found.problems:
        for problem in found.problems:
            click.echo(f"  ! {problem}", err=True)
        raise DeployError(
            f"{len(found.problems)} problem(s), listed above, block the "
            "deployment; nothing was changed",
            hint="Fix them and run 'sentinel init tvm' again",
        )
    if found.empty:
        click.echo(f"credential service {where} is already up to date")
        _print_url(deployment)
        return False
    click.echo(f"plan for credential service {where}:")
    for line in found.lines():
        click.echo(f"  {line}")
    if found.trust:
        click.echo("protected roles (outside the stack, changed after it):")
        for change in found.trust:
            for line in change.lines():
                click.echo(f"  {line}")
    if plan:
        return False
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            "not changing anything without confirmation",
            hint="Re-run with --yes (stdin is not a terminal)",
        )
    executed = False
    if found.lines():
        if not yes and not click.confirm("Deploy the stack?"):
            click.echo("nothing changed")
            return False
        deployment.upload(found, lambda step: click.echo(f"done: {step}"))
        executed = True
        deployment.execute(found, lambda step: click.echo(f"done: {step}"))
    if found.trust:
        question = f"Replace the trust policy of the {len(found.trust)} protected role(s) above?"
        if yes or click.confirm(question):
            apply_trust(
                clients.iam,
                spec,
                found.trust,
                on_done=lambda change: click.echo(f"done: trust policy of {change.role_arn}"),
            )
        else:
            click.echo("protected roles unchanged")
    click.echo(f"deployed credential service {where}")
    _print_url(deployment)
    return executed


def _discard(deployment: StackDeployment, found: StackPlan) -> None:
    try:
        deployment.discard(found)
    except SentinelError as exc:
        click.echo(f"  ! warning: the change set was left in place: {exc}", err=True)


def _print_url(deployment: StackDeployment) -> None:
    url = deployment.function_url()
    if url:
        click.echo(f"export SENTINEL_REMOTE={url}")


def _write_template(
    app: App,
    table: str | None,
    policy_parameter: str | None,
    name: str | None,
    protect_roles: tuple[str, ...],
    out_file: Path | None,
    package_out: Path | None,
    extras: dict[str, str | None],
) -> int:
    region = app.region()[0] or ""
    spec = DeploySpec(
        region=region,
        account="",
        **deployment_names(app, table, policy_parameter, name),
        protected_roles=tuple(protect_roles),
        sns_topic_arn=extras["sns_topic_arn"],
        identity_store_id=extras["identity_store_id"],
        mfa_role_arn=extras.get("mfa_role_arn"),
    )
    text = render(spec)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        click.echo(f"wrote CloudFormation template {out_file}", err=True)
    if package_out is not None:
        package = build_package()
        package_out.write_bytes(package.data)
        click.echo(
            f"wrote function zip {package_out} ({len(package.files)} files); upload "
            "it to CodeS3Bucket/CodeS3Key",
            err=True,
        )
    return 0


def service_extras(
    topic: str | None, store: str | None, mfa_role: str | None = None
) -> dict[str, str | None]:
    """The optional grants of the service's role, checked like the document checks them."""

    if topic is not None and not SNS_ARN.match(topic):
        raise UsageError(
            f"--notify-topic {topic[:80]!r} is not an SNS topic ARN",
            hint="Give the document's notifications.sns_topic_arn",
        )
    if store is not None and not STORE_ID.match(store):
        raise UsageError(
            f"--identity-store {store[:80]!r} is not an identity store id",
            hint="Give the document's approvals.identity_store_id, like d-1234567890",
        )
    if mfa_role is not None and not ROLE_ARN.match(mfa_role):
        raise UsageError(
            f"--mfa-role {mfa_role[:80]!r} is not an IAM role ARN",
            hint="Give the document's breakglass.mfa_role",
        )
    return {"sns_topic_arn": topic, "identity_store_id": store, "mfa_role_arn": mfa_role}


def deployment_names(
    app: App, table: str | None, policy_parameter: str | None, name: str | None
) -> dict[str, Any]:
    return {
        "table": str(table or app.config().default("session_table") or DEFAULT_TABLE),
        "policy_parameter": policy_parameter or DEFAULT_POLICY_PARAMETER,
        "name": name or DEFAULT_NAME,
    }


def _resolve(
    app: App,
    table: str | None,
    policy_parameter: str | None,
    name: str | None,
    protect_roles: tuple[str, ...],
    extras: dict[str, str | None] | None = None,
    *,
    check_only: bool = False,
) -> tuple[DeployClients, DeploySpec]:
    """The clients and the spec: the account comes from STS, the region from the usual chain.

    ``check_only``: only the clients ``tvm check`` reads with (IAM, Lambda, CloudFormation);
    the others are None, as a client costs tens of milliseconds to make."""
    region = app.region()[0]
    sts = app.client("sts", region)
    with aws_call("sts", "GetCallerIdentity"):
        who: dict[str, Any] = sts.get_caller_identity()
    clients = DeployClients(
        iam=app.client("iam", region),
        dynamodb=None if check_only else app.client("dynamodb", region),
        ssm=None if check_only else app.client("ssm", region),
        lambda_=app.client("lambda", region),
        cloudformation=app.client("cloudformation", region),
        s3=None if check_only else app.client("s3", region),
    )
    spec = DeploySpec(
        region=str(clients.lambda_.meta.region_name),
        account=str(who["Account"]),
        **deployment_names(app, table, policy_parameter, name),
        protected_roles=tuple(dict.fromkeys(protect_roles)),
        sns_topic_arn=(extras or {}).get("sns_topic_arn"),
        identity_store_id=(extras or {}).get("identity_store_id"),
        mfa_role_arn=(extras or {}).get("mfa_role_arn"),
    )
    return clients, spec


@click.command("check")
@click.option("--table", metavar="NAME", help=_TABLE_HELP)
@click.option("--name", metavar="NAME", help=_NAME_HELP)
@click.option(
    "--protect-role",
    "protect_roles",
    multiple=True,
    metavar="ARN",
    help="Also check this role (the roles the service may assume are always checked). Repeatable.",
)
@click.option(
    "--allow-writer",
    "allow_writers",
    multiple=True,
    metavar="NAME|ARN",
    help="A user, group or role whose grants are accepted (e.g. the security team); a role "
    "only users may assume is exempt when they all are. Repeatable.",
)
@common_options
@pass_app
def tvm_check(
    app: App,
    table: str | None,
    name: str | None,
    protect_roles: tuple[str, ...],
    allow_writers: tuple[str, ...],
) -> int:
    """Verify a deployment; exit 1 naming each way around the service."""
    clients, spec = _resolve(app, table, None, name, protect_roles, check_only=True)
    notes: list[str] = []
    findings = check_deployment(
        clients, spec, allowed_writers=frozenset(allow_writers), notes=notes
    )
    for note in notes:
        click.echo(f"  ! note: {note}", err=True)
    if not findings:
        click.echo(
            f"ok: credential service {spec.name} in {spec.region}, account "
            f"{spec.account}: protected roles trust only {spec.role_arn}; no user, group or "
            f"role may write table {spec.table} or get around the service"
        )
        return 0
    for finding in findings:
        click.echo(f"problem: {finding}")
    click.echo(f"{len(findings)} problem(s) found", err=True)
    return 1
