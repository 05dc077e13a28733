"""``sentinel export``: a profile's credentials in the shapes aws-vault and
``aws configure export-credentials`` print, gated by the policy as ``sentinel credentials``
is (mode ``credential_process``)."""

from __future__ import annotations

import json
import shlex

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.cli.credential_options import (
    chosen_profile,
    duration_option,
    duration_seconds,
    mfa_token_option,
    no_cache_option,
    policy_option,
    profile_option,
    remote_options,
)

FORMATS = ("env", "json", "credential-process", "ini")


@click.command("export")
@profile_option
@policy_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="env",
    show_default=True,
    help="env: export lines for a shell; json and credential-process: the credential_process "
    "document; ini: a credentials-file section.",
)
@no_cache_option
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
      sentinel export --profile dev --format ini >> ~/.aws/credentials
    """
    from sentinelgw.credentials.flow import issue_for_profile
    from sentinelgw.credentials.profiles import load_profile
    from sentinelgw.exec.child_env import child_region_for
    from sentinelgw.policy import Mode
    from sentinelgw.service.remote import resolve_remote
    from sentinelgw.timeutil import iso

    name = chosen_profile(app, profile)
    url = resolve_remote(app, remote, local)
    if url is not None:
        # Through the service, as ``sentinel credentials`` is: one live session per profile.
        from sentinelgw.service.remote import remote_client, remote_credentials

        creds = remote_credentials(
            app,
            remote_client(app, url),
            name,
            duration_seconds=duration_seconds(duration),
            use_cache=not no_cache,
        ).credentials
        region = child_region_for(app, _profile_region(name))
    else:
        creds = issue_for_profile(
            app,
            name,
            Mode.CREDENTIAL_PROCESS,
            policy_spec,
            use_cache=not no_cache,
            duration=duration_seconds(duration),
        ).credentials
        region = child_region_for(app, load_profile(name).region)
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
    if fmt == "env":
        for var, value in values.items():
            if value:
                click.echo(f"export {var}={shlex.quote(value)}")
        return 0
    click.echo(f"[{name}]")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if values[var]:
            click.echo(f"{var.lower()} = {values[var]}")
    if region:
        click.echo(f"region = {region}")
    return 0


def _profile_region(name: str) -> str | None:
    """The profile's region where the local AWS config has the profile (the service may serve
    profiles this machine does not define)."""
    from sentinelgw.credentials.profiles import load_profile
    from sentinelgw.errors import SentinelError

    try:
        return load_profile(name).region
    except SentinelError:
        return None
