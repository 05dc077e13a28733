from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import BIN_DIR, sentinel_command


@pytest.fixture
def sentinel_cmd() -> list[str]:
    return sentinel_command()


@pytest.fixture
def base_env(_scrub_aws_env: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(_scrub_aws_env)
    env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    return env
