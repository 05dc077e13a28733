"""Shared fixtures: no test can reach a real AWS account, and one sandbox serves the whole run.

- ``_scrub_aws_env`` (autouse): removes every ``AWS_*`` and ``SENTINEL_*`` variable and points
  ``HOME`` at a temp dir, so neither ``~/.aws`` nor ``~/.sentinel`` is ever read.
- ``sandbox`` (session): one :class:`sentinelgw.sandbox.Sandbox` in a temp dir.
- ``sandbox_env``: an environment for subprocesses (``sentinel``, ``aws``) that uses it.
- ``run_sentinel(args, env=None, input=None, timeout=60)``: runs the installed ``sentinel``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def run_sentinel(sandbox_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_sentinel(args, env=None, input=None, timeout=60)`` → CompletedProcess (text)."""

    def run(
        args: list[str],
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sentinel_command(), *args],
            env=env or sandbox_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
