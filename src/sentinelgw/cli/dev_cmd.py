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
from sentinelgw.tables import DEFAULT_SESSION_TABLE

BANNER = (
    "WARNING: sentinel dev runs an in-memory AWS emulation (moto) on 127.0.0.1.\n"
    "It is NOT FOR PRODUCTION: no real account. moto enforces IAM trust and identity\n"
    "policies (not conditions) unless --no-service is given.\n"
)


def export_lines(env: dict[str, str]) -> list[str]:
    """``export NAME=VALUE`` lines, shell-quoted, in a stable order."""
    import shlex

    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


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
@common_options
@pass_app
def dev(app: App, directory: Path | None, port: int, table: str, no_service: bool) -> int:
    """Run a local AWS sandbox (moto + CloudTrail recorder + SSO portal) until Ctrl-C.

    Prints export lines on stdout; NOT FOR PRODUCTION. Use it from a second terminal, or:
    sentinel dev > /tmp/sb.env &  then  eval "$(cat /tmp/sb.env)"
    """
    from sentinelgw.sandbox import missing_extra

    message = missing_extra()
    if message:
        raise SandboxError(message)
    from sentinelgw.sandbox import Sandbox

    created = directory is None
    root = Path(tempfile.mkdtemp(prefix="sentinel-sandbox-")) if directory is None else directory
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
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
            BANNER + f"Sandbox folder: {root}\nEndpoint: {sb.endpoint_url}\nPress Ctrl-C to stop.",
            err=True,
        )
        click.echo("\n".join(export_lines(sb.env())))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
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
    from sentinelgw.sandbox import missing_extra

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
