"""Applying a plan: refusal on problems, and the bounded retry for IAM propagation."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sentinelgw.awsclients import call
from sentinelgw.errors import AWSError, DeployError
from sentinelgw.service.deploy.apply import _Applier, apply_plan
from sentinelgw.service.deploy.aws import DeployClients
from sentinelgw.service.deploy.package import LambdaPackage
from sentinelgw.service.deploy.plan import Change, Plan
from sentinelgw.service.deploy.spec import DeploySpec

SPEC = DeploySpec(region="eu-west-1", account="123456789012", table="sessions")
NO_CLIENTS = DeployClients(iam=None, dynamodb=None, ssm=None, lambda_=None)
PACKAGE = LambdaPackage(b"", ())


def _failing(code: str, times: int, calls: list[int]):
    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            return call("lambda", "CreateFunction", aws_refuses)
        return "done"

    def aws_refuses() -> str:
        raise ClientError({"Error": {"Code": code, "Message": "not yet"}}, "CreateFunction")

    return fn


def test_a_plan_with_problems_changes_nothing():
    plan = Plan(
        SPEC,
        (Change("role", "sentinel-tvm", "create"),),
        problems=("protected role arn:aws:iam::123456789012:role/x does not exist",),
    )
    applied: list[Change] = []
    with pytest.raises(DeployError, match="role/x does not exist"):
        apply_plan(NO_CLIENTS, plan, PACKAGE, on_done=applied.append)
    assert applied == []


def test_iam_propagation_errors_are_retried_until_they_pass():
    sleeps: list[float] = []
    calls: list[int] = []
    applier = _Applier(NO_CLIENTS, SPEC, PACKAGE, sleeps.append)
    fn = _failing("InvalidParameterValueException", 2, calls)
    assert applier._retry_iam("InvalidParameterValueException", fn) == "done"
    assert len(calls) == 3
    assert sleeps == [1.0, 2.0]


def test_other_errors_are_not_retried():
    sleeps: list[float] = []
    calls: list[int] = []
    applier = _Applier(NO_CLIENTS, SPEC, PACKAGE, sleeps.append)
    fn = _failing("AccessDeniedException", 5, calls)
    with pytest.raises(AWSError, match="denied"):
        applier._retry_iam("InvalidParameterValueException", fn)
    assert len(calls) == 1 and sleeps == []
