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


@click.command("credentials")
@click.option("--profile", "profile", metavar="NAME", help="AWS profile (default: AWS_PROFILE).")
@click.option("--policy", "policy_spec", metavar="SRC", help="Policy file or ssm:/parameter.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the credentials cache.")
@debug_policy_option
@common_options
@pass_app
def credentials(app: App, profile: str | None, policy_spec: str | None, no_cache: bool,
                debug_policy: bool) -> int:
    """Print credential_process JSON (Version 1) for a profile, if the policy allows it."""
    from sentinelgw.credentials.flow import issue_for_profile
    from sentinelgw.credentials.profiles import default_profile
    from sentinelgw.errors import UsageError
    from sentinelgw.policy import Mode

    name = profile or default_profile(app.env)
    if not name:
        raise UsageError("no profile given", hint="Pass --profile NAME or set AWS_PROFILE")
    issued = issue_for_profile(
        app, name, Mode.CREDENTIAL_PROCESS, policy_spec, use_cache=not no_cache,
        debug_policy=debug_policy,
    )
    sys.stdout.write(json.dumps(issued.credentials.process_json()) + "\n")
    return 0
