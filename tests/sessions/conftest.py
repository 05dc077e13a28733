"""Fixtures for the session-table tests: a real moto server over HTTP on loopback.

Until the shared ``sandbox`` fixture lands in ``tests/conftest.py`` this starts its own
session-scoped ``ThreadedMotoServer``. Every test gets its own table name, so tests never see
each other's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinelgw.sessions.schema import ensure_table
from sentinelgw.sessions.store import SessionStore

from sessionhelpers import REGION, make_client


@pytest.fixture(scope="session")
def endpoint_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test can reach a real account: dummy keys, no AWS config, HOME in a temp dir."""
    for var in list(os.environ):
        if var.startswith("AWS_") or var.startswith("SENTINEL_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture(scope="session")
def ddb(endpoint_url: str) -> Any:
    return make_client(endpoint_url)


@pytest.fixture
def table_name() -> str:
    return f"sessions-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(ddb: Any, table_name: str) -> SessionStore:
    ensure_table(ddb, table_name)
    return SessionStore(ddb, table_name)


@pytest.fixture
def cli_env(endpoint_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the installed ``sentinel`` against the moto server."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
    }
