"""Fixtures for the credential service tests, on the shared sandbox (moto over HTTP).

Each deployment test gets its own names (function, role, table, parameter) and its own
protected role, so tests never see each other's resources.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


@pytest.fixture(scope="session")
def aws(sandbox: Any) -> Callable[[str], Any]:
    """``aws("iam")``: a boto3 client on the sandbox, as the test harness (not a test user)."""
    import boto3

    def make(service: str) -> Any:
        return boto3.client(
            service,
            region_name=sandbox.region,
            endpoint_url=sandbox.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@dataclass(frozen=True)
class Deployment:
    """Names for one test deployment, and the ``sentinel init tvm`` flags that select them."""

    name: str
    table: str
    parameter: str
    protected_role: str
    region: str
    account: str

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.name}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.table}"

    def flags(self) -> list[str]:
        return [
            "--name",
            self.name,
            "--table",
            self.table,
            "--policy-parameter",
            self.parameter,
            "--protect-role",
            self.protected_role,
        ]

    def check_flags(self) -> list[str]:
        return ["--name", self.name, "--table", self.table]


@pytest.fixture
def deployment(sandbox: Any, aws: Callable[[str], Any]) -> Deployment:
    """Fresh names, and a protected role that trusts the whole account (as before Sentinel)."""
    suffix = uuid.uuid4().hex[:10]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{sandbox.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(
        RoleName=f"prod-{suffix}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    return Deployment(
        name=f"sentinel-tvm-{suffix}",
        table=f"sessions-{suffix}",
        parameter=f"/sentinel/test-{suffix}/policy",
        protected_role=str(role["Arn"]),
        region=sandbox.region,
        account=sandbox.account_id,
    )


@pytest.fixture
def deployed(deployment: Deployment, run_sentinel: Callable[..., Any]) -> Deployment:
    """``deployment``, applied with ``sentinel init tvm --yes``."""
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    return deployment
