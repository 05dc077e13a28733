"""Fixtures for the audit tests, all on the shared sandbox (moto + CloudTrail recorder)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelgw.context import Context
from sentinelgw.credentials.providers import own_session
from sentinelgw.sessions.store import SessionStore

KEYS = {"AWS_ACCESS_KEY_ID": "AKIAAUDITTESTS", "AWS_SECRET_ACCESS_KEY": "audit-test-not-secret"}


@pytest.fixture
def audit_env(
    sandbox: Any, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The sandbox variables plus dummy keys, in os.environ (in-process) and for subprocesses."""
    for name, value in {**sandbox.env(), **KEYS}.items():
        monkeypatch.setenv(name, value)
    return {**sandbox_env, **KEYS}


def sandbox_client(sandbox: Any, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def store(sandbox: Any, audit_env: dict[str, str]) -> SessionStore:
    assert sandbox.table_created
    return SessionStore(sandbox_client(sandbox, "dynamodb"), sandbox.table)


@pytest.fixture
def app(audit_env: dict[str, str]) -> Context:
    return Context(env=dict(os.environ), own_session=own_session)


@pytest.fixture
def recorder(sandbox: Any) -> Iterator[Any]:
    """The CloudTrail recorder, emptied before and after the test."""
    sandbox.recorder.clear()
    yield sandbox.recorder
    sandbox.recorder.clear()


@pytest.fixture
def s3(sandbox: Any, audit_env: dict[str, str]) -> Any:
    return sandbox_client(sandbox, "s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"trail-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def sts(sandbox: Any, audit_env: dict[str, str]) -> Any:
    return sandbox_client(sandbox, "sts")
