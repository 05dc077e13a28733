"""``sentinel credentials``: credential_process output (mode ``credential_process``).

Use it from ``~/.aws/config``::

    [profile prod-via-sentinel]
    credential_process = sentinel credentials --profile prod
"""

from __future__ import annotations

import json
import sys

import click

from sentinelgw.cli.common import App, common_options, pass_app


@click.command("credentials")
@click.option("--profile", "profile", metavar="NAME", help="AWS profile (default: AWS_PROFILE).")
@click.option("--policy", "policy_spec", metavar="SRC", help="Policy file or ssm:/parameter.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the credentials cache.")
@click.option("--remote", metavar="URL",
              help="Credential service URL (default: SENTINEL_REMOTE, then defaults.remote).")
@click.option("--local", is_flag=True, help="Local mode even if a service is configured.")
@common_options
@pass_app
def credentials(app: App, profile: str | None, policy_spec: str | None, no_cache: bool,
                remote: str | None, local: bool) -> int:
    """Print credential_process JSON (Version 1) for a profile, if the policy allows it."""
    from sentinelgw.credentials.flow import issue_for_profile
    from sentinelgw.credentials.profiles import default_profile
    from sentinelgw.errors import UsageError
    from sentinelgw.policy import Mode

    name = profile or default_profile(app.env)
    if not name:
        raise UsageError("no profile given", hint="Pass --profile NAME or set AWS_PROFILE")
    if remote or (not local and _configured_remote(app)):
        from sentinelgw.service.remote import remote_client, resolve_remote

        url = resolve_remote(app, remote, local)
        assert url is not None
        grant = remote_client(app, url).start(name, mode="credential_process")
        sys.stdout.write(json.dumps(grant.credentials.process_json()) + "\n")
        return 0
    issued = issue_for_profile(
        app, name, Mode.CREDENTIAL_PROCESS, policy_spec, use_cache=not no_cache
    )
    sys.stdout.write(json.dumps(issued.credentials.process_json()) + "\n")
    return 0


def _configured_remote(app: App) -> bool:
    """A service is configured (SENTINEL_REMOTE or defaults.remote); checked without imports
    beyond the config, so the local path stays as fast as before."""
    return bool(app.env.get("SENTINEL_REMOTE")) or app.config().defaults.get("remote") is not None
