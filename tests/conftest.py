"""Shared fixtures: no test can reach a real AWS account, and one sandbox serves the whole run.

- ``_scrub_aws_env`` (autouse): removes every ``AWS_*`` and ``SENTINEL_*`` variable and points
  ``HOME`` at a temp dir, so neither ``~/.aws`` nor ``~/.sentinel`` is ever read.
- ``sandbox`` (session): one :class:`sentinelgw.sandbox.Sandbox` in a temp dir.
- ``sandbox_env``: an environment for subprocesses (``sentinel``, ``aws``) that uses it.
- ``run_sentinel(args, env=None, input=None, timeout=60, real=False)``: runs ``sentinel``.

``run_sentinel`` runs most commands in this process (:func:`run_in_process`: the same ``main``
the installed script calls, with the given environment, its own stdin and its own stdout and
stderr at the file-descriptor level), because a new interpreter that imports boto3 costs about
half a CPU-second and the suite runs hundreds of commands. ``exec`` and ``credentials`` run
in this process too: their child is still a real process (it inherits the command's
environment and file descriptors, and exec forwards signals to it from this process's main
thread), and credential_process, which the AWS CLI starts, is always the installed script.
The installed script runs as a real process for ``dev``, ``demo`` and ``tvm serve`` (servers
of their own), with ``real=True``, and in a test marked ``@pytest.mark.real_process``: the key
paths (``exec`` with the AWS CLI as its child, in both modes, the exit status, the
``credentials`` contract) keep that mark, so the installed script is what they prove.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.file_order import order

from sentinelgw.awsclients import share_loaders_process_wide

# The tests' own boto3 clients, and moto in the in-process sandbox, share one botocore data
# loader, as Sentinel's sessions do: a plain new session parses endpoints.json (1.25 MB) and
# each service model again, about 0.1 CPU-s per client (20 CPU-s of the workers' time).
share_loaders_process_wide()

BIN_DIR = Path(sys.executable).parent
_SCRUB_PREFIXES = ("AWS_", "SENTINEL_")


def _scrubbed(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(_SCRUB_PREFIXES)}


@pytest.fixture(autouse=True)
def _scrub_aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """No AWS_* / SENTINEL_* from the outside, and HOME in a fresh temp dir."""
    for var in list(os.environ):
        if var.startswith(_SCRUB_PREFIXES):
            monkeypatch.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local AWS sandbox, started once for the whole test session."""
    from sentinelgw.sandbox import Sandbox

    sb = Sandbox(tmp_path_factory.mktemp("sandbox"))
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox_env(sandbox: Any, _scrub_aws_env: Path) -> dict[str, str]:
    """os.environ (scrubbed) + the sandbox variables + HOME=tmp, venv's bin first on PATH."""
    env = _scrubbed(dict(os.environ))
    env.update(sandbox.env())
    env["HOME"] = str(_scrub_aws_env)
    env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    env.setdefault("LANG", "C.UTF-8")
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sentinel_command() -> list[str]:
    """The installed ``sentinel`` script next to this interpreter (else ``python -m``)."""
    script = BIN_DIR / "sentinel"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sentinelgw.cli.main"]


# Commands that always run as the installed script: what they do needs a process of their own.
REAL_PROCESS_COMMANDS = frozenset({"dev", "demo"})
REAL_PROCESS_SUBCOMMANDS = frozenset({("tvm", "serve")})
# Common options that take a value (given before the command name).
_VALUE_OPTIONS = frozenset({"--region", "--aws-profile", "--config", "--backend", "--log-file"})
_IN_PROCESS_LOCK = threading.Lock()


def needs_real_process(args: list[str]) -> bool:
    """Whether ``sentinel ARGS`` must run as its own process (see REAL_PROCESS_COMMANDS)."""
    words = iter(args)
    for word in words:
        if word == "--":
            return False
        if word in _VALUE_OPTIONS:
            next(words, None)
            continue
        if word.startswith("-"):
            continue
        if word in REAL_PROCESS_COMMANDS:
            return True
        sub = next((w for w in words if not w.startswith("-")), None)
        return (word, sub) in REAL_PROCESS_SUBCOMMANDS
    return False


def _reset_process_state() -> None:
    """What a new ``sentinel`` process starts without: per-process ids and default sessions."""
    from sentinelgw.exec import tracking

    tracking.instance_id.cache_clear()
    if "boto3" in sys.modules:
        sys.modules["boto3"].DEFAULT_SESSION = None


def run_in_process(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` through ``sentinelgw.cli.main.main`` in this process, as the installed
    script would run it: ``os.environ`` is ``env``, fds 0/1/2 are files of its own (so a child
    process writes where the command does), and nothing the command leaves behind (signal
    handlers, the switch interval, the environment, the working directory) outlives it.

    A command still running after ``timeout`` seconds ends the test process with every
    thread's stack (a real process would have been killed; here nothing else can stop it).
    """
    from sentinelgw.cli.main import main

    with _IN_PROCESS_LOCK, contextlib.ExitStack() as stack:
        files = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(3)]
        files[0].write((input or "").encode("utf-8"))
        files[0].seek(0)
        saved_env = dict(os.environ)
        saved_cwd = os.getcwd()
        saved_streams = (sys.stdin, sys.stdout, sys.stderr)
        saved_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        saved_interval = sys.getswitchinterval()
        for stream in saved_streams[1:]:
            stream.flush()
        saved_fds = [os.dup(fd) for fd in range(3)]
        code: int | str | None = 2
        try:
            for fd, file in enumerate(files):
                os.dup2(file.fileno(), fd)
            errors = sys.__stdout__.errors if sys.__stdout__ is not None else "strict"
            sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", encoding="utf-8", errors=errors, closefd=False)  # noqa: SIM115
            sys.stderr = open(  # noqa: SIM115
                2, "w", encoding="utf-8", errors="backslashreplace", closefd=False
            )
            os.environ.clear()
            os.environ.update(env)
            if cwd is not None:
                os.chdir(cwd)
            _reset_process_state()
            faulthandler.dump_traceback_later(timeout, exit=True, file=saved_fds[2])
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code
            finally:
                faulthandler.cancel_dump_traceback_later()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            for fd, saved in enumerate(saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
            for sig, handler in saved_handlers.items():
                signal.signal(sig, handler)
            sys.setswitchinterval(saved_interval)
        out, err = (_read(file) for file in files[1:])
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err, code = f"{err}{code}\n", 1
    return subprocess.CompletedProcess([*sentinel_command(), *args], code, out, err)


def _read(file: Any) -> str:
    file.seek(0)
    return str(file.read().decode("utf-8", errors="surrogateescape"))


def run_cli(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
    real: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS``: in this process, or as the installed script (``real``, or a command
    in REAL_PROCESS_COMMANDS)."""
    if real or needs_real_process(args):
        return subprocess.run(
            [*sentinel_command(), *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
    return run_in_process(args, env, input=input, timeout=timeout, cwd=cwd)


@pytest.fixture
def run_sentinel(
    sandbox_env: dict[str, str], request: pytest.FixtureRequest
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_sentinel(args, env=None, input=None, timeout=60, real=False)`` → CompletedProcess
    (text). ``real=True`` (or the test's ``real_process`` mark) runs the installed script."""
    marked = request.node.get_closest_marker("real_process") is not None

    def run(
        args: list[str],
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
        real: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(args, env or sandbox_env, input=input, timeout=timeout, real=real or marked)

    return run


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made (test modules, sentinelgw, boto3, moto) lives to the end: the
    cyclic collector stops scanning it, and collects cycles with the ``sentinel`` command's
    thresholds (sentinelgw/cli/__init__.py), not CPython's: about 14% of a worker's CPU
    otherwise."""
    from sentinelgw.cli import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The workers take files longest first (tests/file_order.py): a long file (the demo's,
    about 80 s) starts at once, and the run does not end on a slow file while the other
    workers wait."""
    order(items)
