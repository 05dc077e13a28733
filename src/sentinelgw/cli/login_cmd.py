"""``sentinel login``: a console sign-in URL for a profile, gated by the policy in mode
``console``. Locally, a profile whose rule requires server mode, with or without session
tracking, is refused: a local console session cannot be tracked or revoked. With ``--remote``
(or ``SENTINEL_REMOTE`` / ``defaults.remote``) the credential service issues the role
credentials behind the URL in a session it records, so its SourceIdentity Deny reaches the
console session too, and such a profile is allowed when the service's policy says so."""

from __future__ import annotations

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.cli.credential_options import (
    chosen_profile,
    duration_option,
    mfa_token_option,
    policy_option,
    profile_option,
    remote_options,
)
from sentinelgw.credentials import console
from sentinelgw.credentials.flow import issue_for_profile
from sentinelgw.credentials.providers import find_profile
from sentinelgw.exec.child_env import child_region_for
from sentinelgw.policy import Mode
from sentinelgw.service.remote import remote_client, resolve_remote
from sentinelgw.timeutil import role_duration_seconds


@click.command("login")
@profile_option
@policy_option
@click.option("--open", "open_browser", is_flag=True, help="Open the URL in the web browser.")
@duration_option
@mfa_token_option
@remote_options
@common_options
@pass_app
def login(
    app: App,
    profile: str | None,
    policy_spec: str | None,
    open_browser: bool,
    duration: str | None,
    remote: str | None,
    local: bool,
) -> int:
    """Print (or open) an AWS console sign-in URL for a profile, if the policy allows it.

    The URL signs its holder in for 15 minutes: do not share or log it.
    """
    name = chosen_profile(app, profile)
    url_of_service = resolve_remote(app, remote, local)
    if url_of_service is not None:
        grant = remote_client(app, url_of_service).start(
            name, mode="console", duration_seconds=role_duration_seconds(duration)
        )
        credentials = grant.credentials
    else:
        credentials = issue_for_profile(
            app,
            name,
            Mode.CONSOLE,
            policy_spec,
            use_cache=False,
            duration=role_duration_seconds(duration),
        ).credentials
    endpoint = console.federation_endpoint(app.env)
    token = console.signin_token(credentials, endpoint)
    region = child_region_for(app, find_profile(app, name).region)
    url = console.login_url(token, endpoint, console.console_destination(region))
    if open_browser:
        import webbrowser

        if webbrowser.open(url):
            click.echo(f"opened the AWS console for profile {name} in the web browser", err=True)
            return 0
        click.echo("sentinel: no web browser could be opened; the URL is below", err=True)
    click.echo(url)
    return 0
