"""``sentinel credentials``: credential_process output (mode ``credential_process``).

Use it from ``~/.aws/config``::

    [profile prod-via-sentinel]
    credential_process = sentinel credentials --profile prod
"""

from __future__ import annotations

import json
import sys

import click

from sentinelgw.cli.common import App, common_options, debug_policy_option, pass_app
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
from sentinelgw.policy import Mode
from sentinelgw.timeutil import role_duration_seconds


@click.command("credentials")
@profile_option
@policy_option
@no_cache_option
@no_session_option
@duration_option
@mfa_token_option
@remote_options
@debug_policy_option
@common_options
@pass_app
def credentials(
    app: App,
    profile: str | None,
    policy_spec: str | None,
    no_cache: bool,
    no_session: bool,
    duration: str | None,
    remote: str | None,
    local: bool,
    debug_policy: bool,
) -> int:
    """Print credential_process JSON (Version 1) for a profile, if the policy allows it."""
    name = chosen_profile(app, profile)
    if remote or (not local and _configured_remote(app)):
        # Lazy: the service client's HTTPS stack (ssl, urllib) costs every local call time.
        from sentinelgw.service.remote import remote_client, remote_credentials, resolve_remote

        url = resolve_remote(app, remote, local)
        assert url is not None
        grant = remote_credentials(
            app,
            remote_client(app, url),
            name,
            duration_seconds=role_duration_seconds(duration),
            use_cache=not no_cache,
        )
        sys.stdout.write(json.dumps(grant.credentials.process_json()) + "\n")
        return 0
    issued = issue_for_profile(
        app,
        name,
        Mode.CREDENTIAL_PROCESS,
        policy_spec,
        use_cache=not no_cache,
        duration=role_duration_seconds(duration),
        debug_policy=debug_policy,
        session=not no_session,
    )
    sys.stdout.write(json.dumps(issued.credentials.process_json()) + "\n")
    return 0


def _configured_remote(app: App) -> bool:
    """A service is configured (SENTINEL_REMOTE or defaults.remote); checked without imports
    beyond the config, so the local path stays as fast as before."""
    return bool(app.env.get("SENTINEL_REMOTE")) or app.config().defaults.get("remote") is not None
