"""``sentinel dev`` (a local AWS sandbox in the foreground) and ``sentinel demo``."""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.errors import SandboxError
from sentinelgw.sandbox import missing_extra
from sentinelgw.sandbox.provision import refuse_home_dirs
from sentinelgw.session_table import DEFAULT_SESSION_TABLE

BANNER = (
    "WARNING: sentinel dev runs an in-memory AWS emulation (moto) on 127.0.0.1.\n"
    "It is NOT FOR PRODUCTION: no real account. moto enforces IAM trust and identity\n"
    "policies (not conditions) unless --no-service is given.\n"
)
# What each sandbox profile is for; the banner names those the sandbox's AWS config has.
PROFILE_NOTES = {
    "dev": "alice's open role (CLI mode)",
    "prod": "needs a tracked server session (sentinel exec --server prod)",
    "security": "the security team: server-sessions, server-revoke, server-blocks",
    "admin": "deploys and checks the credential service",
    "sso-admin": "IAM Identity Center login (--no-service only)",
    "prod-sso": "prod with sso-admin as source (--aws-profile sso-admin)",
}
SERVICE_VARIABLES = ("SENTINEL_REMOTE",)


def export_lines(env: dict[str, str]) -> list[str]:
    """``export NAME=VALUE`` lines, shell-quoted, in a stable order; a service variable the
    sandbox does not set is unset, so a shell that ran the default mode before does not keep
    pointing at a service that is gone."""
    import shlex

    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    return lines + [f"unset {name}" for name in SERVICE_VARIABLES if name not in env]


def profiles_line(*aws_files: Path) -> str:
    """The profiles the sandbox's AWS config and credentials files define, with their use."""
    import configparser

    names = set()
    for path in aws_files:
        parser = configparser.RawConfigParser()
        parser.read(path, encoding="utf-8")
        names |= {s.removeprefix("profile ") for s in parser.sections()}
    known = [f"  {name:<10} {PROFILE_NOTES[name]}" for name in PROFILE_NOTES if name in names]
    return "Profiles (--profile / --aws-profile):\n" + "\n".join(known)


@click.command("dev")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Sandbox folder (default: a new temporary folder, removed on exit).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--table",
    default=DEFAULT_SESSION_TABLE,
    show_default=True,
    help="Name of the session table to create.",
)
@click.option(
    "--no-service",
    is_flag=True,
    help="No credential service and no IAM enforcement (local mode only).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the export lines to FILE (0600), atomically, once the sandbox is ready; "
    "removed on exit.",
)
@common_options
@pass_app
def dev(
    app: App,
    directory: Path | None,
    port: int,
    table: str,
    no_service: bool,
    env_file: Path | None,
) -> int:
    """Run a local AWS sandbox (moto + CloudTrail recorder + SSO portal) until Ctrl-C.

    Prints export lines on stdout; NOT FOR PRODUCTION. Use it from a second terminal, or in
    the background with --env-file, which appears only once the sandbox is ready:

    \b
      sentinel dev --env-file /tmp/sb.env &
      until [ -f /tmp/sb.env ]; do sleep 0.2; done; . /tmp/sb.env

    \b
    Profiles: dev (alice, CLI mode), prod (tracked server sessions only), security (the
    security team: server-sessions, server-revoke, server-blocks), admin where the sandbox
    has it; sso-admin and prod-sso with --no-service (IAM Identity Center).
    """
    message = missing_extra()
    if message:
        raise SandboxError(message)
    if directory is not None:  # refused before moto and werkzeug are imported (about 0.7 s)
        refuse_home_dirs(directory.expanduser().resolve())
    from sentinelgw.sandbox.core import Sandbox

    created = directory is None
    root = Path(tempfile.mkdtemp(prefix="sentinel-sandbox-")) if directory is None else directory
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if env_file is not None:
        env_file.unlink(missing_ok=True)  # a file from an earlier run is not a ready sandbox
    sb = Sandbox(
        root,
        port=port,
        region=app.region_flag or "us-east-1",
        table=table,
        enforce_iam=not no_service,
    )
    try:
        sb.start()
        click.echo(
            BANNER
            + f"Sandbox folder: {root}\nEndpoint: {sb.endpoint_url}\n"
            + profiles_line(sb.aws_config_file, sb.credentials_file)
            + "\nPress Ctrl-C to stop.",
            err=True,
        )
        lines = "\n".join(export_lines(sb.env())) + "\n"
        if env_file is not None:
            from sentinelgw.fsutil import atomic_write

            atomic_write(env_file, lines)  # complete or absent: never half-written
        click.echo(lines, nl=False)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        sb.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if created:
            shutil.rmtree(root, ignore_errors=True)
    click.echo("sandbox stopped", err=True)
    return 0


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Sandbox folder to use (default: a new temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox folder afterwards.")
@click.option(
    "--service",
    "only",
    flag_value="service",
    help="Only the second part: each uncooperative move, local mode beside the service.",
)
@click.option(
    "--no-service",
    "only",
    flag_value="walkthrough",
    help="Only the first part: the seven-step walkthrough in local mode.",
)
@common_options
@pass_app
def demo(app: App, directory: Path | None, keep: bool, only: str | None) -> int:
    """Guided end-to-end run on fresh sandboxes: the seven-step walkthrough in local mode, then
    each uncooperative move in local mode beside the credential service. Every step is checked."""
    message = missing_extra()
    if message:
        raise SandboxError(message.replace("sentinel dev", "sentinel demo"))
    passed = True
    if only != "service":
        from sentinelgw.sandbox.demo import run_demo

        walk_dir = None if directory is None else directory / "walkthrough"
        result = run_demo(directory=walk_dir, keep=keep, echo=lambda line: click.echo(line))
        passed = result.passed
    if only != "walkthrough":
        if only is None:
            click.echo("")
            click.echo("Part 2: the same user, uncooperative, in local mode and at the service")
        passed = _service_demo(directory, keep) and passed
    return 0 if passed else 1


def _service_demo(directory: Path | None, keep: bool) -> bool:
    import shutil
    import tempfile

    from sentinelgw.sandbox.service_demo import run_service_demo

    root = (directory / "service") if directory else Path(tempfile.mkdtemp(prefix="sentinel-demo-"))
    approvals: list[bool] = []
    try:
        moves = run_service_demo(
            directory=root, echo=lambda line: click.echo(line), approvals=approvals
        )
    finally:
        if directory is None and not keep:
            shutil.rmtree(root, ignore_errors=True)
    return all(m.passed for m in moves) and all(approvals) and bool(approvals)
