"""``sentinel exec`` in CLI mode: policy-gated keys in the child's environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinelgw.credentials.flow import issue_for_profile
from sentinelgw.credentials.providers import find_profile
from sentinelgw.exec.child_env import child_region_for, cli_mode_env
from sentinelgw.exec.process import command_or_shell, run_child
from sentinelgw.policy import Mode

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.exec import ExecInput


def run_cli_exec(ctx: Context, inp: ExecInput) -> int:
    """Issue credentials for ``inp.profile`` (mode ``cli``), run the child, return its status."""
    issued = issue_for_profile(
        ctx,
        inp.profile,
        Mode.CLI,
        inp.policy_spec,
        use_cache=not inp.no_cache,
        duration=inp.duration,
        debug_policy=inp.debug_policy,
        session=not inp.no_session,
    )
    region = child_region_for(ctx, find_profile(ctx, inp.profile).region)
    env = cli_mode_env(ctx.env, issued.credentials, region, inp.profile)
    return run_child(command_or_shell(inp.command, ctx.env), env)
