"""The enforced sandbox: ``sentinel dev`` as a subprocess, with the credential service on loopback.

moto's IAM enforcement and its backends are process-wide, so the enforced sandbox runs in its
own process (exactly as a user runs it); the session-scoped ``sandbox`` of the other tests stays
unenforced in this one.

- ``enforced`` (session): an :class:`Enforced` with the exported variables and paths;
- ``alice_env``: a subprocess environment as alice (the default credentials) on it;
- ``alice`` / ``security``: boto3 sessions as those users.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN_DIR = Path(sys.executable).parent
MAX_EXPORTS = 30  # more export lines than this without SENTINEL_REMOTE: a broken dev


@dataclass
class Enforced:
    root: Path
    env: dict[str, str]  # the exported variables

    @property
    def url(self) -> str:
        return self.env["SENTINEL_REMOTE"]

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    @property
    def document(self) -> Path:
        return self.root / "service" / "service.yaml"

    @property
    def log(self) -> Path:
        return self.root / "service.log"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::123456789012:role/sentinel-{name}"


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("LANG", "C.UTF-8")
    return env


@pytest.fixture(scope="session")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enforced]:
    base = tmp_path_factory.mktemp("enforced")
    root = base / "sb"
    (base / "home").mkdir()
    script = BIN_DIR / "sentinel"
    proc = subprocess.Popen(
        [str(script), "dev", "--dir", str(root)],
        env=_base_env(base / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        while "SENTINEL_REMOTE" not in exports:  # the last export line in this mode
            line = proc.stdout.readline()
            assert line.startswith("export "), (line, proc.stderr.read() if proc.poll() else "")
            assert len(exports) < MAX_EXPORTS, exports
            name, _, value = line[len("export ") :].rstrip("\n").partition("=")
            exports[name] = value.strip("'")
        yield Enforced(root=root, env=exports)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def alice_env(enforced: Enforced, _scrub_aws_env: Path) -> dict[str, str]:
    env = _base_env(_scrub_aws_env)
    env.update(enforced.env)
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def on_enforced(enforced: Enforced, monkeypatch: pytest.MonkeyPatch) -> Enforced:
    """This test process's AWS variables point at the enforced sandbox."""
    for name, value in enforced.env.items():
        monkeypatch.setenv(name, value)
    return enforced


def _keys(enforced: Enforced, profile: str) -> Any:
    """A boto3 session with the profile's keys fixed now (later env changes do not move it)."""
    import configparser

    import boto3

    parser = configparser.ConfigParser()
    parser.read(enforced.env["AWS_SHARED_CREDENTIALS_FILE"])
    section = parser[profile]
    return boto3.Session(
        aws_access_key_id=section["aws_access_key_id"],
        aws_secret_access_key=section["aws_secret_access_key"],
        region_name="us-east-1",
    )


@pytest.fixture
def alice(on_enforced: Enforced) -> Any:
    return _keys(on_enforced, "default")


@pytest.fixture
def security(on_enforced: Enforced) -> Any:
    return _keys(on_enforced, "security")
