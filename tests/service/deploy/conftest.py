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

    session = boto3.Session(
        region_name=sandbox.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    made: dict[str, Any] = {}

    def make(service: str) -> Any:
        # one client per service for the run: a new one loads the service model again
        if service not in made:
            made[service] = session.client(service, endpoint_url=sandbox.endpoint_url)
        return made[service]

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
    # Principals already in the shared sandbox when the test starts (the sandbox's admin roles,
    # other tests' users and roles): exempt in check_flags, so a check test sees only its own.
    baseline: tuple[str, ...] = ()

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
        exempt = [arg for name in self.baseline for arg in ("--allow-writer", name)]
        return ["--name", self.name, "--table", self.table, *exempt]


@pytest.fixture
def deployment(sandbox: Any, aws: Callable[[str], Any]) -> Deployment:
    """Fresh names, and a protected role that trusts the whole account (as before Sentinel)."""
    return new_deployment(sandbox, aws)


def new_deployment(sandbox: Any, aws: Callable[[str], Any]) -> Deployment:
    """What the ``deployment`` fixture gives, for a fixture of a wider scope."""
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
    baseline = _principals(aws("iam"))
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
        baseline=baseline,
    )


def _principals(iam: Any) -> tuple[str, ...]:
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "Role"]
    )
    names: list[str] = []
    for page in pages:
        names += [u["Arn"] for u in page.get("UserDetailList", [])]
        names += [g["Arn"] for g in page.get("GroupDetailList", [])]
        names += [r["Arn"] for r in page.get("RoleDetailList", [])]
    return tuple(names)


@pytest.fixture
def deployed(deployment: Deployment, run_sentinel: Callable[..., Any]) -> Deployment:
    """``deployment``, applied with ``sentinel init tvm --yes``."""
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    return deployment
