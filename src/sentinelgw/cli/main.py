"""Entry point of the ``sentinel`` command.

Subcommands are imported lazily so that ``sentinel credentials`` does not pay for the modules
of ``audit`` or ``dev``. This module is the CLI's host boundary for :class:`SentinelError`
(docs/architecture.md, "Errors", lists the other catch sites and why): it prints one line and
exits with the documented code (0 success, 1 denied or gap found, 2 usage or infrastructure).
An access-denied AWS error names the security team's profile when ``defaults.security_profile``
is set; ``--debug`` adds the traceback and the raw AWS answer, which the line never quotes.
An abort (Ctrl-C, ``click.Abort``) exits 130, as shells report an interrupted command (answering
no to a confirmation is not an abort: "nothing changed", exit 0); any other exception is a bug:
one line, exit 2. Click's usage errors become one ``sentinel: error:`` line, exit 2.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from sentinelgw import __version__
from sentinelgw.cli.common import App, common_options
from sentinelgw.errors import SentinelError
from sentinelgw.inert import visible

EXIT_ABORTED = 130  # as a shell reports a command interrupted by SIGINT (128 + 2)

# command name -> (module, attribute, short help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "exec": ("sentinelgw.cli.exec_cmd", "exec_", "Run a command with policy-gated credentials."),
    "credentials": (
        "sentinelgw.cli.credentials_cmd",
        "credentials",
        "Print credential_process JSON for a profile.",
    ),
    "export": (
        "sentinelgw.cli.export_cmd",
        "export",
        "Print credentials for a profile (shell lines, json, ini).",
    ),
    "list": ("sentinelgw.cli.list_cmd", "list_", "List AWS profiles, their rules and the cache."),
    "login": ("sentinelgw.cli.login_cmd", "login", "Print an AWS console sign-in URL."),
    "completion": (
        "sentinelgw.cli.completion_cmd",
        "completion",
        "Print the shell completion script.",
    ),
    "policy": ("sentinelgw.cli.policy_cmd", "policy", "Validate and explain policies."),
    "config": ("sentinelgw.cli.config_cmd", "config", "Show the effective configuration."),
    "init": ("sentinelgw.cli.sessions_cmd", "init", "Provision Sentinel infrastructure."),
    "sessions": ("sentinelgw.cli.self_cmd", "sessions", "List your own sessions (the service)."),
    "end": ("sentinelgw.cli.self_cmd", "end", "End one of your sessions (the service)."),
    "request": (
        "sentinelgw.cli.request_cmd",
        "request",
        "Ask for access to a profile that needs approval.",
    ),
    "requests": ("sentinelgw.cli.request_cmd", "requests", "List access requests (the service)."),
    "request-cancel": (
        "sentinelgw.cli.request_cmd",
        "request_cancel",
        "Cancel one of your access requests.",
    ),
    "approve": ("sentinelgw.cli.request_cmd", "approve", "Approve an access request."),
    "deny": ("sentinelgw.cli.request_cmd", "deny", "Deny an access request."),
    "breakglass": (
        "sentinelgw.cli.breakglass_cmd",
        "breakglass",
        "Open emergency access without approval (loud).",
    ),
    "breakglass-list": (
        "sentinelgw.cli.breakglass_cmd",
        "breakglass_list",
        "List break-glass grants (the service).",
    ),
    "breakglass-show": (
        "sentinelgw.cli.breakglass_cmd",
        "breakglass_show",
        "Show one break-glass grant.",
    ),
    "breakglass-close": (
        "sentinelgw.cli.breakglass_cmd",
        "breakglass_close",
        "Close a break-glass grant; its sessions are revoked.",
    ),
    "server-sessions": (
        "sentinelgw.cli.sessions_cmd",
        "server_sessions",
        "List and export server sessions.",
    ),
    "server-session": ("sentinelgw.cli.sessions_cmd", "server_session", "Show one server session."),
    "server-revoke": ("sentinelgw.cli.revoke_cmd", "server_revoke", "Revoke a server session."),
    "server-unblock": ("sentinelgw.cli.blocks_cmd", "server_unblock", "Lift a user's block."),
    "server-blocks": ("sentinelgw.cli.blocks_cmd", "server_blocks", "List blocked users."),
    "audit": ("sentinelgw.cli.audit_cmd", "audit", "Audit CloudTrail against the session table."),
    "dev": ("sentinelgw.cli.dev_cmd", "dev", "Run a local AWS sandbox (not for production)."),
    "demo": ("sentinelgw.cli.dev_cmd", "demo", "Guided end-to-end run on a fresh sandbox."),
    "tvm": ("sentinelgw.cli.tvm_cmd", "tvm", "Run and check the Sentinel credential service."),
    "permissions": (
        "sentinelgw.cli.permissions_cmd",
        "permissions",
        "The IAM each principal of a deployment needs; check a principal.",
    ),
    "add": ("sentinelgw.cli.keys_cmd", "add", "Store a profile's access key in the keyring."),
    "remove": ("sentinelgw.cli.keys_cmd", "remove", "Delete a profile's stored access key."),
    "rotate": ("sentinelgw.cli.keys_cmd", "rotate", "Replace a profile's stored access key."),
    "clear": ("sentinelgw.cli.keys_cmd", "clear", "Delete cached session credentials."),
    "whoami": ("sentinelgw.cli.whoami_cmd", "whoami", "Show the caller's ARN and policy user."),
    "shell": ("sentinelgw.cli.whoami_cmd", "shell", "Shell functions per allowed profile."),
}

# group name -> subcommands other modules add to it: (module, attribute)
SUBCOMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "init": (
        ("sentinelgw.cli.tvm_deploy_cmd", "init_tvm"),
        ("sentinelgw.cli.blocks_cmd", "init_revocation_scp"),
    ),
    "tvm": (("sentinelgw.cli.tvm_deploy_cmd", "tvm_check"),),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        cmd = getattr(module, entry[1])
        assert isinstance(cmd, click.Command)
        if isinstance(cmd, click.Group):
            for sub_module, attribute in SUBCOMMANDS.get(cmd_name, ()):
                sub = getattr(importlib.import_module(sub_module), attribute)
                cmd.add_command(sub)
        return cmd

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in COMMANDS or name.startswith("-"):
            return super().resolve_command(ctx, args)
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
        mean = f" Did you mean '{close[0]}'?" if close else ""
        raise click.UsageError(f"No such command {name!r}.{mean}", ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentinel")
@common_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Sentinel: policy-based AWS credentials with enforced, revocable session tracking."""
    ctx.ensure_object(App)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    app = App(raw_args=args)
    try:
        rv = cli.main(args=args, prog_name="sentinel", standalone_mode=False, obj=app)
        code = rv if isinstance(rv, int) else 0
    except SentinelError as exc:
        if debug or app.debug:
            import traceback

            traceback.print_exc()
            _print_debug_details(exc)
        _print_error(str(exc) + _profile_hint(app, exc))
        code = exc.exit_code
    except click.exceptions.Abort:
        _print_error("aborted")
        code = EXIT_ABORTED
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, on stderr
            click.echo(exc.format_message(), err=True)
        else:
            _print_error(_usage_line(exc))
        code = 2
    except click.ClickException as exc:
        _print_error(exc.format_message())
        code = 2
    except KeyboardInterrupt:
        _print_error("interrupted")
        code = EXIT_ABORTED
    except BrokenPipeError:
        _silence_broken_pipe()
        code = 0
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if debug or app.debug:
            import traceback

            traceback.print_exc()
        _print_error(
            f"internal error: {type(exc).__name__}: {_safe(exc)}. Re-run with --debug and report it"
        )
        code = 2
    _flush()
    return code


def _usage_line(exc: click.UsageError) -> str:
    """Click's usage error as one line that names the help to read."""
    message = exc.format_message()
    path = exc.ctx.command_path if exc.ctx is not None else "sentinel"
    end = "" if message.endswith((".", "?")) else "."
    return f"{message}{end} See: {path} --help"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__
    return seen


def _profile_hint(app: App, exc: BaseException) -> str:
    """For an access-denied AWS error: the configured security profile to retry with, unless
    the command already used it."""
    if not any(getattr(e, "access_denied", False) for e in _chain(exc)):
        return ""

    try:
        profile = app.config().default("security_profile")
    except SentinelError:
        return ""
    if not isinstance(profile, str) or not profile or profile == app.aws_profile:
        return ""
    return f" (security team: add --aws-profile {profile})"


def _print_debug_details(exc: BaseException) -> None:
    """The raw AWS answers behind the error, for --debug only (control characters inert)."""

    for err in _chain(exc):
        detail = getattr(err, "debug_detail", None)
        if detail:
            click.echo(f"sentinel: debug: AWS answered: {visible(detail[:4000])}", err=True)


def _safe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


def _print_error(message: str) -> None:
    # Messages quote names from records and files: one line, no control characters.
    line = visible(" ".join(message.split()))
    click.echo(f"sentinel: error: {line}", err=True)


def _flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_broken_pipe()


def _silence_broken_pipe() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()
