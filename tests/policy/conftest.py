"""Fixtures for the policy tests: a clean environment, the installed CLI, and moto for SSM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _scrubbed(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(home)
    env["AWS_CONFIG_FILE"] = str(home / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "aws-credentials")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess that cannot see a real AWS account or user config."""
    home = tmp_path / "home"
    home.mkdir()
    return _scrubbed(home)


@pytest.fixture
def run_sentinel(
    clean_env: dict[str, str], tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``sentinel ARGS`` (bounded) in an empty working directory: in this process, or as the
    installed script for a command that needs its own (see tests/conftest.py ``run_cli``)."""
    from tests.conftest import run_cli

    assert shutil.which("sentinel", path=clean_env["PATH"]), "sentinel is not installed"
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), env or clean_env, input=stdin, cwd=cwd or work)

    return run


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server mode on a loopback port, started once for the SSM source tests."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(
    moto_endpoint: str, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Dummy credentials and the moto endpoint, in this process and for subprocesses."""
    env = dict(clean_env)
    env.update(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
    )
    for key in list(os.environ):
        if key.startswith(("AWS_", "SENTINEL_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AWS_") or key == "HOME":
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def ssm(aws_env: dict[str, str]) -> Any:
    """An SSM client on the moto endpoint, for putting parameters."""
    import boto3

    return boto3.client("ssm", region_name="us-east-1", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
