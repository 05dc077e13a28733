"""Flags shared by the commands that issue credentials: ``--duration``, ``--mfa-token``,
``--no-cache``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from sentinelgw.cli.common import App
from sentinelgw.credentials.profiles import default_profile
from sentinelgw.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def profile_option(fn: F) -> F:
    """``--profile NAME`` (completed from the AWS config); see :func:`chosen_profile`."""
    from sentinelgw.cli.completion_cmd import complete_profiles  # a command module: lazy

    return click.option(
        "--profile",
        "profile",
        metavar="NAME",
        help="AWS profile (default: AWS_PROFILE).",
        shell_complete=complete_profiles,
    )(fn)


def policy_option(fn: F) -> F:
    return click.option(
        "--policy", "policy_spec", metavar="SRC", help="Policy file or ssm:/parameter."
    )(fn)


def chosen_profile(app: App, profile: str | None) -> str:
    """``--profile``, else AWS_PROFILE / AWS_DEFAULT_PROFILE; a usage error when none."""
    name = profile or default_profile(app.env)
    if not name:
        raise UsageError("no profile given", hint="Pass --profile NAME or set AWS_PROFILE")
    return name


def _fixed_code(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip()
    if not code.isdigit() or len(code) != 6:
        raise click.BadParameter("the MFA code must be 6 digits")
    app = ctx.find_object(App) or ctx.ensure_object(App)
    app.prompt_mfa = lambda _serial: code
    return code


def mfa_token_option(fn: F) -> F:
    """``--mfa-token CODE``: answer the MFA prompt without a terminal."""
    return click.option(
        "--mfa-token",
        metavar="CODE",
        expose_value=False,
        callback=_fixed_code,
        help="MFA code for profiles with mfa_serial (no prompt; for scripts).",
    )(fn)


def duration_option(fn: F) -> F:
    return click.option(
        "--duration",
        metavar="DURATION",
        help="Lifetime of the role credentials, e.g. 15m or 4h (default: the profile's "
        "duration_seconds, else 1h); capped by the role's maximum and the policy.",
    )(fn)


def no_cache_option(fn: F) -> F:
    return click.option(
        "--no-cache", is_flag=True, help="Do not read or write the credentials cache."
    )(fn)


def remote_options(fn: F) -> F:
    """``--remote URL`` and ``--local``: the credential service, or local mode."""
    fn = click.option("--local", is_flag=True, help="Local mode even if a service is configured.")(
        fn
    )
    return click.option(
        "--remote",
        metavar="URL",
        help="Credential service URL (default: SENTINEL_REMOTE, then defaults.remote).",
    )(fn)


def no_session_option(fn: F) -> F:
    """``--no-session``: a static-key profile's own keys instead of a GetSessionToken session."""
    return click.option(
        "--no-session",
        is_flag=True,
        help="For a static-key profile, hand out its keys as they are (no sts:GetSessionToken).",
    )(fn)
