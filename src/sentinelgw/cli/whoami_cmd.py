"""``sentinel whoami``: the caller's ARN and the user name policies match, and ``sentinel shell
init``: one shell function per profile the policy allows (as Sentinel Go has)."""

from __future__ import annotations

import json
import re
import shlex

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.credential_options import policy_option, profile_option
from sentinelgw.credentials.overview import overview
from sentinelgw.credentials.profiles import default_profile
from sentinelgw.credentials.providers import caller_identity, provider_for
from sentinelgw.inert import visible
from sentinelgw.policy import Mode
from sentinelgw.policy.source import open_policy_source

# A profile becomes part of a function name only when the shell reads it as a plain word.
_FUNCTION_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@click.command("whoami")
@profile_option
@format_option("human", "json")
@common_options
@pass_app
def whoami(app: App, profile: str | None, fmt: str) -> int:
    """Show the caller's ARN and the user name Sentinel's policies match.

    With --profile (or AWS_PROFILE): the identity behind that profile's source credentials,
    the one its rules are evaluated for (no role is assumed). Without: Sentinel's own
    credentials (--aws-profile, else the default chain).
    """
    region = app.region()[0]
    name = profile or default_profile(app.env)
    if name:
        identity = provider_for(app, name, region).identity()
        source = f"profile {name}"
    else:
        identity = caller_identity(app.aws_session(region), region)
        source = f"--aws-profile {app.aws_profile}" if app.aws_profile else "default chain"
    if fmt == "json":
        doc = {
            "arn": identity.arn,
            "account": identity.account,
            "user_id": identity.user_id,
            "user": identity.user,
            "profile": name,
        }
        click.echo(json.dumps(doc, indent=2))
        return 0

    click.echo(f"arn      {visible(identity.arn)}")
    click.echo(f"account  {visible(identity.account)}")
    click.echo(f"user     {visible(identity.user)}  (the name policies match)")
    click.echo(f"from     {visible(source)}")
    return 0


@click.group("shell")
def shell() -> None:
    """Shell helpers."""


@shell.command("init")
@click.argument(
    "shell_name", metavar="[bash|zsh]", type=click.Choice(["bash", "zsh"]), default="bash"
)
@click.option(
    "--user",
    metavar="NAME",
    help="Evaluate the policy for this AWS user (default: unknown, as sentinel list).",
)
@policy_option
@common_options
@pass_app
def shell_init(app: App, shell_name: str, user: str | None, policy_spec: str | None) -> int:
    """Print a function sentinel-PROFILE for each profile the policy allows.

    A profile allowed in CLI mode gets 'sentinel exec PROFILE -- "$@"'; one whose rule requires
    server mode gets 'sentinel exec --server PROFILE -- "$@"'; a denied one gets none.

    \b
    In ~/.bashrc or ~/.zshrc:
      eval "$(sentinel shell init bash)"
    then:
      sentinel-dev aws s3 ls
    """
    policy = open_policy_source(policy_spec, app).current()
    lines = [f"# sentinel shell init {shell_name}: one function per profile the policy allows"]
    for row in overview(app, policy, user, app.now()):
        allowed = {mode for mode, decision in row.decisions if decision.allowed}
        if not _FUNCTION_SAFE.match(row.name):
            lines.append("# skipped a profile whose name is not a plain shell word")
            continue
        if Mode.CLI in allowed:
            flags = ""
        elif Mode.SERVER in allowed:
            flags = "--server "
        else:
            continue
        quoted = shlex.quote(row.name)
        lines.append(f'sentinel-{row.name}() {{ sentinel exec {flags}{quoted} -- "$@"; }}')
    click.echo("\n".join(lines))
    return 0
