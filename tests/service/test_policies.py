"""The IAM documents of the credential service."""

from __future__ import annotations

import json

import pytest

from sentinelgw.service.policies import (
    protected_role_trust_policy,
    service_role_policy,
    user_invoke_policy,
)

SERVICE_ROLE = "arn:aws:iam::123456789012:role/sentinel-tvm"
PROD = "arn:aws:iam::123456789012:role/prod"
STAGING = "arn:aws:iam::123456789012:role/staging"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/sentinel-sessions"
PARAM = "arn:aws:ssm:eu-west-1:123456789012:parameter/sentinel/policy"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:sentinel-tvm"


def _by_sid(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_trust_policy_names_only_the_service_role_with_the_sentinel_condition():
    policy = protected_role_trust_policy(SERVICE_ROLE)
    assert policy["Version"] == "2012-10-17"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": SERVICE_ROLE}
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
    assert statement["Condition"] == {"StringLike": {"sts:SourceIdentity": "sentinel.*"}}
    assert set(statement) == {"Sid", "Effect", "Principal", "Action", "Condition"}


def test_trust_policy_is_a_fresh_dict_each_time():
    first = protected_role_trust_policy(SERVICE_ROLE)
    first["Statement"][0]["Action"].append("sts:AssumeRoleWithWebIdentity")
    assert "sts:AssumeRoleWithWebIdentity" not in json.dumps(
        protected_role_trust_policy(SERVICE_ROLE)
    )


def test_service_role_policy_scopes_each_permission_to_its_resource():
    policy = _by_sid(service_role_policy([STAGING, PROD, PROD], TABLE, PARAM))
    assume = policy["SentinelAssumeProtectedRoles"]
    assert assume["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
    assert assume["Resource"] == [PROD, STAGING]
    table = policy["SentinelSessionTable"]
    assert table["Resource"] == [TABLE, f"{TABLE}/index/*"]
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"} <= set(
        table["Action"]
    )
    assert not any(
        a.endswith("*") or "Scan" in a or "Table" in a.replace("DescribeTable", "")
        for a in table["Action"]
    )
    assert policy["SentinelPolicyParameter"]["Action"] == ["ssm:GetParameter"]
    assert policy["SentinelPolicyParameter"]["Resource"] == [PARAM]
    revoke = policy["SentinelHardRevocation"]
    assert revoke["Action"] == [
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
    ]  # no iam:DeleteRolePolicy: the service never falls back on a role-wide deny
    assert revoke["Resource"] == [PROD, STAGING]
    sso = policy["SentinelIdentityCenterRoles"]
    assert sso["Action"] == ["iam:GetRole"]
    assert sso["Resource"] == ["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*"]
    logs = policy["SentinelLambdaLogs"]
    assert (
        logs["Resource"][0] == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/sentinel*"
    )


def test_service_role_policy_grants_no_wildcard_resource_or_action():
    policy = service_role_policy([PROD], TABLE, PARAM)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in statement["Resource"]
        assert all(not a.endswith(":*") and a != "*" for a in statement["Action"])


def test_service_role_policy_without_protected_roles_has_no_sts_or_iam():
    text = json.dumps(service_role_policy([], TABLE, PARAM))
    assert "sts:" not in text
    assert "iam:" not in text
    assert "dynamodb:PutItem" in text


def test_service_role_policy_takes_an_explicit_log_group():
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/my-fn"
    logs = _by_sid(service_role_policy([PROD], TABLE, PARAM, log_group_arn=group))
    assert logs["SentinelLambdaLogs"]["Resource"] == [group, f"{group}:*"]


def test_the_breakglass_mfa_role_is_readable_by_the_service_and_nothing_else_is_added():
    mfa_role = "arn:aws:iam::123456789012:role/sentinel-breakglass-mfa"
    with_role = _by_sid(service_role_policy([PROD], TABLE, PARAM, mfa_role_arn=mfa_role))
    statement = with_role["SentinelBreakGlassMfaRole"]
    assert statement["Action"] == ["iam:GetRole"] and statement["Resource"] == [mfa_role]
    without = _by_sid(service_role_policy([PROD], TABLE, PARAM))
    assert set(with_role) - set(without) == {"SentinelBreakGlassMfaRole"}


@pytest.mark.parametrize("function_arn", [FUNCTION, FUNCTION.replace("eu-west-1", "us-east-2")])
def test_user_policy_only_invokes_the_function_url(function_arn):
    assert user_invoke_policy(function_arn) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelInvokeService",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
                "Resource": [function_arn],
            }
        ],
    }
