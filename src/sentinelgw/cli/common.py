"""Options every command shares, and the CLI's flavour of the core :class:`Context`.

Common flags may be given before or after the subcommand (``sentinel --debug exec ...`` or
``sentinel exec --debug ...``); later values win.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sentinelgw.context import Context, MfaPrompt, Notify, OwnSession, SecretPrompt
from sentinelgw.errors import CredentialError

if TYPE_CHECKING:
    import boto3

F = TypeVar("F", bound=Callable[..., Any])


def terminal_mfa_prompt(serial: str) -> str:
    """Ask for the MFA code on the terminal (input hidden); refuse when there is none."""
    try:
        with open("/dev/tty", encoding="utf-8") as tty:  # noqa: F841 - presence check only
            pass
    except OSError:
        raise CredentialError(
            f"an MFA code for {serial} is needed but there is no terminal to ask on",
            hint="Run the command from an interactive terminal",
        ) from None
    return str(click.prompt(f"MFA code for {serial}", err=True, hide_input=True))


def terminal_secret_prompt(what: str) -> str:
    """Ask for a secret on the terminal, never echoed; refuse when there is no terminal."""
    import sys

    if not sys.stdin.isatty():
        raise CredentialError(
            f"{what[0].lower()}{what[1:]} is needed but there is no terminal to ask on",
            hint="Run the command from an interactive terminal, or see: sentinel add --help",
        )
    return str(click.prompt(what, err=True, hide_input=True))


def notify_stderr(message: str) -> None:
    click.echo(f"sentinel: {message}", err=True)


def own_session(ctx: Context, name: str | None, region: str | None) -> boto3.Session:
    """:func:`sentinelgw.credentials.providers.own_session`, loaded when first needed: the warm
    ``sentinel credentials`` path makes no AWS call and skips the providers' import time."""
    from sentinelgw.credentials.providers import own_session as build

    return build(ctx, name, region)


@dataclass
class App(Context):
    """The core :class:`Context` plus what only the command line has: its raw arguments, and a
    terminal to ask for an MFA code on."""

    raw_args: list[str] = field(default_factory=list)
    prompt_mfa: MfaPrompt | None = terminal_mfa_prompt
    prompt_secret: SecretPrompt | None = terminal_secret_prompt
    notify: Notify | None = notify_stderr
    own_session: OwnSession | None = own_session


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        app = ctx.find_object(App)
        if app is None:
            app = ctx.ensure_object(App)
        setattr(app, name, value)
        return value

    return callback


def common_options(fn: F) -> F:
    """Add ``--region --aws-profile --config --backend --debug --log-file --log-stderr``."""
    opts = [
        click.option(
            "--region",
            "region_flag",
            expose_value=False,
            callback=_store("region_flag"),
            help="AWS region for Sentinel's own calls.",
            metavar="REGION",
        ),
        click.option(
            "--aws-profile",
            expose_value=False,
            callback=_store("aws_profile"),
            help="AWS profile Sentinel uses for its own calls and as SSO source.",
            metavar="NAME",
        ),
        click.option(
            "--config",
            "config_path",
            expose_value=False,
            callback=_store("config_path"),
            help="Sentinel config file (also SENTINEL_CONFIG).",
            metavar="FILE",
        ),
        click.option(
            "--backend",
            expose_value=False,
            callback=_store("backend"),
            help="Keyring of stored source keys: secret-service, kwallet, keychain, wincred or "
            "file (also SENTINEL_BACKEND).",
            metavar="NAME",
        ),
        click.option(
            "--debug",
            is_flag=True,
            expose_value=False,
            callback=_store("debug"),
            help="Show tracebacks and debug details (never secrets).",
        ),
        click.option(
            "--log-file",
            expose_value=False,
            callback=_store("log_file"),
            help="Append one JSON line per decision to FILE (created 0600).",
            metavar="FILE",
        ),
        click.option(
            "--log-stderr",
            is_flag=True,
            expose_value=False,
            callback=_store("log_stderr"),
            help="Write decision log lines to stderr.",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pass_app(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.find_object(App) or ctx.ensure_object(App)
        return fn(app, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str, default: str = "human") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )


debug_policy_option = click.option(
    "--debug-policy",
    is_flag=True,
    help="Allow --policy even where the config pins a central policy source (logged).",
)


def hoist_options(params: list[click.Parameter], args: list[str]) -> list[str]:
    """``args`` with the options that follow the first positional word (the profile) moved in
    front of it, as aws-vault allows: ``exec dev --duration 2h -- cmd``.

    Only this command's own options directly after the profile move; the first word that is
    not one of them (or ``--``) starts the command, whose own flags are never touched. With
    ``--profile NAME`` nothing moves: the first word is then the command.
    """
    takes_value: dict[str, bool] = {}
    for param in params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not (param.is_flag or param.count)

    def width(i: int) -> int:
        """How many words the option at ``i`` spans; 0 when ``args[i]`` is not our option."""
        word = args[i]
        name = word.split("=", 1)[0]
        if not word.startswith("-") or name not in takes_value:
            return 0
        return 2 if takes_value[name] and "=" not in word and i + 1 < len(args) else 1

    i = 0
    while i < len(args) and args[i] != "--" and args[i].startswith("-"):
        if args[i].split("=", 1)[0] == "--profile":
            return args  # the profile is an option: the first word is the command's already
        i += width(i) or 1  # options before the profile: click reads them as usual
    if i >= len(args) or args[i] == "--":
        return args
    profile, j = i, i + 1
    while j < len(args) and args[j] != "--" and width(j):
        j += width(j)
    return [*args[:profile], *args[profile + 1 : j], args[profile], *args[j:]]


class ProfileFirstCommand(click.Command):
    """A command whose options may also follow its PROFILE argument (see hoist_options)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_options(self.params, args))


@contextmanager
def progress_spinner(enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """A spinner line on stderr, only on a terminal: never mixed into redirected output."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("Reading CloudTrail events…") as status:
        yield lambda text: status.update(text)
