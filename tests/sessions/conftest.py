"""Fixtures for the session-table tests, on the shared sandbox (real moto over HTTP).

The environment scrubbing, the ``sandbox`` itself and ``run_sentinel`` come from
``tests/conftest.py``. Every test gets its own table name, so tests never see each other's
records.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sessionhelpers import make_client

from sentinelgw.sessions.schema import ensure_table
from sentinelgw.sessions.store import SessionStore


@pytest.fixture(scope="session")
def endpoint_url(sandbox: Any) -> str:
    return str(sandbox.endpoint_url)


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
