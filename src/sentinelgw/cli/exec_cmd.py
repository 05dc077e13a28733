"""``sentinel exec``: run a command with policy-gated credentials.

CLI mode (default) puts short-lived keys in the child's environment. ``--server`` starts a
local credential endpoint instead, with the policy and the session's revocation checked on
every request. ``--remote URL`` (or ``SENTINEL_REMOTE``, or ``defaults.remote``) has the
credential service decide instead, on every request; ``--local`` forces local mode. The modes
live in ``sentinelgw.exec``; this module only parses the command line.
"""

from __future__ import annotations

import click

from sentinelgw.cli.common import (
    App,
    ProfileFirstCommand,
    common_options,
    debug_policy_option,
    pass_app,
)
from sentinelgw.cli.completion_cmd import complete_exec_args, complete_profiles
from sentinelgw.cli.credential_options import (
    duration_option,
    mfa_token_option,
    no_cache_option,
    no_session_option,
    remote_options,
)
from sentinelgw.credentials.profiles import default_profile
from sentinelgw.errors import UsageError
from sentinelgw.exec import ExecInput
from sentinelgw.exec.process import refuse_nested
from sentinelgw.service.remote import remote_client, resolve_remote

USAGE = "[PROFILE] [-- COMMAND [ARG...]]"


def split_profile(
    app: App, profile_opt: str | None, args: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...]]:
    """``sentinel exec prod -- cmd`` (aws-vault style) or ``sentinel exec --profile prod -- cmd``.

    Without ``--profile``, a word before ``--`` is the profile; with no ``--`` and no
    ``--profile`` the first word is the profile, as in aws-vault.
    """
    if profile_opt:
        return profile_opt, args
    raw = app.raw_args
    if "--" in raw:
        after = len(raw) - raw.index("--") - 1
        cut = len(args) - after
        before = [a for a in args[:cut] if a != "--"]
        if len(before) > 1:
            raise UsageError(
                f"unexpected arguments before --: {' '.join(before[1:])}",
                hint="Use: sentinel exec --profile NAME -- COMMAND ...",
            )
        return (before[0] if before else None), args[cut:]
    if args:
        return args[0], args[1:]
    return None, ()


@click.command("exec", cls=ProfileFirstCommand, context_settings={"allow_interspersed_args": False})
@click.option(
    "--profile",
    "profile_opt",
    metavar="NAME",
    help="AWS profile (default: AWS_PROFILE).",
    shell_complete=complete_profiles,
)
@click.option("--policy", "policy_spec", metavar="SRC", help="Policy file or ssm:/parameter.")
@click.option(
    "--server", is_flag=True, help="Serve credentials from a local endpoint (mode server)."
)
@click.option("--session-table", metavar="TABLE", help="DynamoDB table that tracks the session.")
@click.option(
    "--no-session-tracking",
    is_flag=True,
    help="Do not track the server session (refused where the policy requires it).",
)
@click.option(
    "--server-port",
    type=click.IntRange(0, 65535),
    metavar="N",
    help="Port for the credential server (default: random).",
)
@click.option(
    "--server-duration",
    metavar="DURATION",
    help="--server: lifetime of each served credential (default 15m); remote: the session's "
    "lease, renewed while the command runs (default 5m). Capped by the policy's "
    "max_server_duration.",
)
@click.option(
    "--token-mode",
    type=click.Choice(["file", "env"]),
    default="file",
    show_default=True,
    help="Give the child its token in a file (0600) or a variable.",
)
@debug_policy_option
@duration_option
@mfa_token_option
@no_cache_option
@no_session_option
@remote_options
@click.argument(
    "args", nargs=-1, type=click.UNPROCESSED, metavar=USAGE, shell_complete=complete_exec_args
)
@common_options
@pass_app
def exec_(
    app: App,
    profile_opt: str | None,
    policy_spec: str | None,
    server: bool,
    session_table: str | None,
    no_session_tracking: bool,
    server_port: int | None,
    server_duration: str | None,
    token_mode: str,
    duration: str | None,
    no_cache: bool,
    no_session: bool,
    remote: str | None,
    local: bool,
    debug_policy: bool,
    args: tuple[str, ...],
) -> int:
    """Run COMMAND with credentials for PROFILE if the policy allows it (default: $SHELL).

    Options go before or right after PROFILE (as in aws-vault); from the first word that is
    not an option of exec (or after --) on, everything is the command.

    \b
    Examples:
      sentinel exec dev -- aws sts get-caller-identity
      sentinel exec dev --duration 4h -- terraform plan
      sentinel exec --mfa-token 123456 dev-mfa -- aws s3 ls
      sentinel exec --server prod -- terraform apply
      sentinel exec --server --token-mode env prod -- node deploy.js
      AWS_PROFILE=dev sentinel exec -- make test
    """
    refuse_nested(app.env)
    profile, command = split_profile(app, profile_opt, args)
    profile = profile or default_profile(app.env)
    if not profile:
        raise UsageError("no profile given", hint="Pass --profile NAME or set AWS_PROFILE")

    url = resolve_remote(app, remote, local)
    inp = ExecInput(
        profile=profile,
        command=command,
        policy_spec=policy_spec,
        server=server,
        session_table=session_table,
        no_session_tracking=no_session_tracking,
        server_port=server_port,
        server_duration=server_duration,
        token_mode=token_mode,
        duration_flag=duration,
        remote=url is not None,
        no_cache=no_cache,
        no_session=no_session,
        debug_policy=debug_policy,
    ).validate()
    # Each mode is imported only when it runs: together they cost every exec 20-40 ms.
    if url is not None:
        from sentinelgw.exec.remote_mode import run_remote_exec

        return run_remote_exec(app, inp, remote_client(app, url))
    if server:
        from sentinelgw.exec.server_mode import run_server_exec

        return run_server_exec(app, inp)
    from sentinelgw.exec.cli_mode import run_cli_exec

    return run_cli_exec(app, inp)
