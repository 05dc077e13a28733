"""``sentinel tvm check``: each way around the service is found, a clean deployment passes."""

from __future__ import annotations

import json
import uuid

import pytest

from sentinelgw.service.deploy.check import grants_table_write

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/sentinel-sessions"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(
    "doc",
    [
        _doc(_allow("dynamodb:PutItem", TABLE)),
        _doc(_allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [TABLE])),
        _doc(_allow("dynamodb:DeleteItem", "*")),
        _doc(_allow("dynamodb:BatchWriteItem", "arn:aws:dynamodb:*:*:table/sentinel-*")),
        _doc(_allow("dynamodb:*", TABLE)),
        _doc(_allow("DynamoDB:putitem", TABLE)),  # action names are case-insensitive
        _doc(_allow("dynamodb:*Item", TABLE)),
        _doc(_allow("*", "*")),
        _doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        _doc({"Effect": "Allow", "Action": "dynamodb:UpdateItem", "NotResource": "arn:aws:s3:::*"}),
        _doc(_allow("dynamodb:PartiQLUpdate", TABLE)),
        {"Version": "2012-10-17", "Statement": _allow("dynamodb:PutItem", TABLE)},  # one, no list
    ],
    ids=lambda d: json.dumps(d["Statement"])[:60],
)
def test_write_grants_are_found(doc):
    assert grants_table_write(doc, TABLE)


@pytest.mark.parametrize(
    "doc",
    [
        _doc(_allow(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"], TABLE)),
        _doc(_allow("dynamodb:PutItem", TABLE.replace("sentinel-sessions", "other"))),
        _doc(_allow("dynamodb:PutItem", TABLE.replace("eu-west-1", "us-east-1"))),
        _doc(_allow("dynamodb:PutItem", f"{TABLE}/index/*")),
        _doc({"Effect": "Deny", "Action": "*", "Resource": "*"}),
        _doc({"Effect": "Allow", "NotAction": "dynamodb:*", "Resource": "*"}),
        _doc({"Effect": "Allow", "Action": "dynamodb:PutItem", "NotResource": TABLE}),
        _doc(_allow("s3:PutObject", "*")),
        _doc(_allow("lambda:InvokeFunctionUrl", "*")),
        {"Statement": "not a statement"},
        {},
    ],
    ids=lambda d: json.dumps(d.get("Statement"))[:60],
)
def test_reads_and_other_resources_are_not_write_grants(doc):
    assert not grants_table_write(doc, TABLE)


def test_a_clean_deployment_passes(deployed, run_sentinel):
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")
    assert deployed.role_arn in result.stdout


def test_a_protected_role_trusting_someone_else_is_found(deployed, run_sentinel, aws):
    name = deployed.protected_role.rsplit("/", 1)[-1]
    doc = aws("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    intruder = f"arn:aws:iam::{deployed.account}:user/mallory"
    doc["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": intruder}, "Action": "sts:AssumeRole"}
    )
    aws("iam").update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc))
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("problem:")]
    assert deployed.protected_role in line and intruder in line
    assert f"--protect-role {deployed.protected_role}" in line


def test_a_protected_role_without_the_source_identity_condition_is_found(
    deployed, run_sentinel, aws
):
    name = deployed.protected_role.rsplit("/", 1)[-1]
    doc = aws("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    del doc["Statement"][0]["Condition"]
    aws("iam").update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc))
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    assert "does not require a SourceIdentity matching 'sentinel.*'" in result.stdout


def test_a_role_named_on_the_command_line_is_checked_too(deployed, run_sentinel, aws):
    other = aws("iam").create_role(
        RoleName=f"other-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    result = run_sentinel(["tvm", "check", *deployed.check_flags(), "--protect-role", other])
    assert result.returncode == 1
    assert f"problem: {other}: the trust policy lets Service ec2.amazonaws.com" in result.stdout


def test_a_user_inline_policy_writing_the_table_is_found(deployed, run_sentinel, aws):
    user = f"writer-{uuid.uuid4().hex[:8]}"
    iam = aws("iam")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.put_user_policy(
        UserName=user,
        PolicyName="flip-records",
        PolicyDocument=json.dumps(
            _doc(
                _allow(
                    ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    f"arn:aws:dynamodb:*:*:table/{deployed.table}",
                )
            )
        ),
    )
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    assert (
        f"problem: {arn}: user may write the session table through inline policy flip-records"
    ) in result.stdout
    allowed = run_sentinel(["tvm", "check", *deployed.check_flags(), "--allow-writer", user])
    assert allowed.returncode == 0, allowed.stdout


def test_a_group_managed_policy_writing_the_table_is_found(deployed, run_sentinel, aws):
    suffix = uuid.uuid4().hex[:8]
    iam = aws("iam")
    group = iam.create_group(GroupName=f"engineers-{suffix}")["Group"]
    policy = iam.create_policy(
        PolicyName=f"table-admin-{suffix}",
        PolicyDocument=json.dumps(_doc(_allow("dynamodb:*", deployed.table_arn))),
    )["Policy"]
    iam.attach_group_policy(GroupName=group["GroupName"], PolicyArn=policy["Arn"])
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    assert (
        f"problem: {group['Arn']}: group may write the session table through managed "
        f"policy {policy['Arn']}"
    ) in result.stdout


def test_a_wildcard_grant_to_any_table_is_found(deployed, run_sentinel, aws):
    user = f"admin-{uuid.uuid4().hex[:8]}"
    iam = aws("iam")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.put_user_policy(
        UserName=user, PolicyName="everything", PolicyDocument=json.dumps(_doc(_allow("*", "*")))
    )
    try:
        result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    finally:  # the sandbox is shared: this user would write every other test's table too
        iam.delete_user_policy(UserName=user, PolicyName="everything")
    assert result.returncode == 1
    assert f"problem: {arn}: user may write the session table" in result.stdout


def test_a_missing_function_is_found(deployed, run_sentinel, aws):
    aws("lambda").delete_function(FunctionName=deployed.name)
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    assert f"problem: {deployed.function_arn}: the function is missing" in result.stdout


def test_a_public_function_url_is_found(deployed, run_sentinel, aws):
    aws("lambda").update_function_url_config(FunctionName=deployed.name, AuthType="NONE")
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    assert "the Function URL has AuthType NONE, expected AWS_IAM" in result.stdout


def test_every_problem_is_named_at_once(deployed, run_sentinel, aws):
    aws("lambda").delete_function(FunctionName=deployed.name)
    aws("iam").update_assume_role_policy(
        RoleName=deployed.protected_role.rsplit("/", 1)[-1],
        PolicyDocument=json.dumps(
            _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
        ),
    )
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    problems = [ln for ln in result.stdout.splitlines() if ln.startswith("problem:")]
    assert result.returncode == 1
    assert len(problems) == 2
    assert "2 problem(s) found" in result.stderr


def test_aws_errors_exit_2(deployed, run_sentinel, sandbox_env):
    env = dict(sandbox_env, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    result = run_sentinel(["tvm", "check", *deployed.check_flags()], env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("sentinel: error:")
