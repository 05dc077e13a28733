"""``sentinel export``: a profile's credentials in the shapes aws-vault and
``aws configure export-credentials`` print, gated by the policy as ``sentinel credentials``
is (mode ``credential_process``)."""

from __future__ import annotations

import json
import re
import shlex

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.cli.credential_options import (
    chosen_profile,
    duration_option,
    mfa_token_option,
    no_cache_option,
    no_session_option,
    policy_option,
    profile_option,
    remote_options,
)
from sentinelgw.credentials.flow import issue_for_profile
from sentinelgw.credentials.providers import find_profile
from sentinelgw.errors import CredentialError, SentinelError
from sentinelgw.exec.child_env import child_region_for
from sentinelgw.policy import Mode
from sentinelgw.service.remote import remote_client, remote_credentials, resolve_remote
from sentinelgw.timeutil import iso, role_duration_seconds

FORMATS = (
    "env",
    "env-no-export",
    "powershell",
    "windows-cmd",
    "json",
    "credential-process",
    "ini",
)
# cmd.exe has no quoting that makes every character inert: only these go into a set line.
_CMD_SAFE = re.compile(r"^[A-Za-z0-9+/=:._-]*$")


@click.command("export")
@profile_option
@policy_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="env",
    show_default=True,
    help="env: export lines for a POSIX shell; env-no-export: NAME=value lines; powershell: "
    "$Env: lines; windows-cmd: set lines; json and credential-process: the credential_process "
    "document; ini: a credentials-file section (the formats of aws configure "
    "export-credentials).",
)
@no_cache_option
@no_session_option
@duration_option
@mfa_token_option
@remote_options
@common_options
@pass_app
def export(
    app: App,
    profile: str | None,
    policy_spec: str | None,
    fmt: str,
    no_cache: bool,
    no_session: bool,
    duration: str | None,
    remote: str | None,
    local: bool,
) -> int:
    """Print credentials for a profile, if the policy allows it (mode credential_process).

    Through the credential service (--remote, SENTINEL_REMOTE or defaults.remote) the
    service decides, and one live session per profile is reused as with credentials.

    \b
    Examples:
      eval "$(sentinel export --profile dev)"
      sentinel export --profile dev --format powershell | Invoke-Expression
      sentinel export --profile dev --format ini >> ~/.aws/credentials
    """
    name = chosen_profile(app, profile)
    url = resolve_remote(app, remote, local)
    if url is not None:
        # Through the service, as ``sentinel credentials`` is: one live session per profile.

        creds = remote_credentials(
            app,
            remote_client(app, url),
            name,
            duration_seconds=role_duration_seconds(duration),
            use_cache=not no_cache,
        ).credentials
        region = child_region_for(app, _profile_region(app, name))
    else:
        creds = issue_for_profile(
            app,
            name,
            Mode.CREDENTIAL_PROCESS,
            policy_spec,
            use_cache=not no_cache,
            duration=role_duration_seconds(duration),
            session=not no_session,
        ).credentials
        region = child_region_for(app, find_profile(app, name).region)
    if fmt in ("json", "credential-process"):
        click.echo(json.dumps(creds.process_json()))
        return 0
    values = {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_SESSION_TOKEN": creds.session_token,
        "AWS_CREDENTIAL_EXPIRATION": iso(creds.expiration),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if fmt in SHELL_LINE:
        for var, value in values.items():
            if value:
                click.echo(SHELL_LINE[fmt](var, value))
        return 0
    click.echo(f"[{name}]")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if values[var]:
            click.echo(f"{var.lower()} = {values[var]}")
    if region:
        click.echo(f"region = {region}")
    return 0


def _profile_region(app: App, name: str) -> str | None:
    """The profile's region where the local AWS config has the profile (the service may serve
    profiles this machine does not define)."""
    try:
        return find_profile(app, name).region
    except SentinelError:
        return None


def _windows_cmd(var: str, value: str) -> str:
    if not _CMD_SAFE.match(value):
        # A region from a hostile AWS config could otherwise run a command in cmd.exe.
        raise CredentialError(
            f"the value of {var} cannot be written safely for cmd.exe",
            hint="Check the profile's region in the AWS config, or use --format powershell",
        )
    return f'set "{var}={value}"'


def _powershell(var: str, value: str) -> str:
    quoted = value.replace("'", "''")  # a single-quoted PowerShell string expands nothing
    return f"$Env:{var}='{quoted}'"


SHELL_LINE = {
    "env": lambda var, value: f"export {var}={shlex.quote(value)}",
    "env-no-export": lambda var, value: f"{var}={shlex.quote(value)}",
    "powershell": _powershell,
    "windows-cmd": _windows_cmd,
}
