"""``sentinel init tvm --generate-iam``: the user policy is invoke-only."""

from __future__ import annotations

import json

import pytest

from sentinelgw.service.policies import user_invoke_policy


def test_generate_iam_prints_exactly_the_invoke_only_policy(deployment, run_sentinel, aws):
    result = run_sentinel(["init", "tvm", "--name", deployment.name, "--generate-iam"])
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == user_invoke_policy(deployment.function_arn)
    [statement] = printed["Statement"]
    # AWS requires both actions for a Function URL created since October 2025
    assert statement["Action"] == ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
    assert statement["Resource"] == [deployment.function_arn]
    # it only prints: nothing was provisioned
    lam = aws("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=deployment.name)


def test_generate_iam_grants_nothing_on_the_table_or_the_roles(deployment, run_sentinel):
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--generate-iam"])
    assert result.returncode == 0, result.stderr
    for forbidden in (
        "dynamodb",
        "sts:",
        "iam:",
        "ssm:",
        deployment.table,
        deployment.protected_role,
    ):
        assert forbidden not in result.stdout
