"""``sentinel tvm check``: each way around the service is found, a clean deployment passes."""

from __future__ import annotations

import json
import uuid

import pytest

from sentinelgw.service.deploy.principals import grants_table_write

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
    # moto has no drift detection: the check says it could not look, and still passes
    assert f"drift of stack {deployed.name} not checked: no usable answer" in result.stderr


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


def test_aws_errors_exit_2(deployment, run_sentinel, sandbox_env):
    # nothing needs deploying: no call reaches the sandbox
    env = dict(sandbox_env, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    result = run_sentinel(["tvm", "check", *deployment.check_flags()], env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("sentinel: error:")


def _trust_doc(principal: dict) -> str:
    return json.dumps(_doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}))


def _problems(result) -> list[str]:
    return [ln for ln in result.stdout.splitlines() if ln.startswith("problem:")]


def _dev_role(deployed, aws) -> tuple[dict, dict]:
    """sentinel-dev on the sandbox: a role a user may assume, with a write grant on the table."""
    suffix = uuid.uuid4().hex[:8]
    iam = aws("iam")
    user = iam.create_user(UserName=f"dev-{suffix}")["User"]
    role = iam.create_role(
        RoleName=f"dev-role-{suffix}", AssumeRolePolicyDocument=_trust_doc({"AWS": user["Arn"]})
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="rewrite",
        PolicyDocument=json.dumps(_doc(_allow("dynamodb:PutItem", deployed.table_arn))),
    )
    return user, role


def test_a_role_that_can_write_the_table_is_found_with_who_may_assume_it(
    deployed, run_sentinel, aws
):
    user, role = _dev_role(deployed, aws)
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    [line] = _problems(result)
    assert line.startswith(
        f"problem: {role['Arn']}: role (assumable by user {user['UserName']}) may write the "
        "session table through inline policy rewrite: "
    )
    assert f'"Action":"dynamodb:PutItem","Effect":"Allow","Resource":"{deployed.table_arn}"' in line


def test_a_role_only_users_may_assume_counts_as_theirs_for_allow_writer(
    deployed, run_sentinel, aws
):
    user, role = _dev_role(deployed, aws)
    mine = run_sentinel(
        ["tvm", "check", *deployed.check_flags(), "--allow-writer", user["UserName"]]
    )
    assert mine.returncode == 0, mine.stdout
    by_name = run_sentinel(
        ["tvm", "check", *deployed.check_flags(), "--allow-writer", role["RoleName"]]
    )
    assert by_name.returncode == 0, by_name.stdout


def test_a_role_a_service_may_assume_is_not_exempted_through_its_users(deployed, run_sentinel, aws):
    suffix = uuid.uuid4().hex[:8]
    iam = aws("iam")
    user = iam.create_user(UserName=f"dev-{suffix}")["User"]
    role = iam.create_role(
        RoleName=f"worker-{suffix}",
        AssumeRolePolicyDocument=_trust_doc({"AWS": user["Arn"], "Service": "ec2.amazonaws.com"}),
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="rewrite",
        PolicyDocument=json.dumps(_doc(_allow("dynamodb:*", "*"))),
    )
    try:
        result = run_sentinel(
            ["tvm", "check", *deployed.check_flags(), "--allow-writer", user["UserName"]]
        )
    finally:  # the sandbox is shared: this role would write every other test's table too
        iam.delete_role_policy(RoleName=role["RoleName"], PolicyName="rewrite")
    assert result.returncode == 1
    [line] = _problems(result)
    assert f"role (assumable by user {user['UserName']}, service ec2.amazonaws.com)" in line


def test_a_grant_to_change_a_protected_roles_trust_or_inline_policies_is_found(
    deployed, run_sentinel, aws
):
    iam = aws("iam")
    user = iam.create_user(UserName=f"editor-{uuid.uuid4().hex[:8]}")["User"]
    iam.put_user_policy(
        UserName=user["UserName"],
        PolicyName="edit-roles",
        PolicyDocument=json.dumps(
            _doc(
                {
                    "Sid": "EditProd",
                    **_allow(
                        ["iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy"],
                        deployed.protected_role,
                    ),
                }
            )
        ),
    )
    result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert result.returncode == 1
    [line] = _problems(result)
    short = deployed.protected_role.rsplit("/", 1)[-1]
    assert (
        f"problem: {user['Arn']}: user may change the trust policy of {short}, change the "
        f"inline policies of {short} through inline policy edit-roles: "
    ) in line
    assert '"Sid":"EditProd"' in line


def test_a_group_grant_to_delete_a_revocation_policy_is_found(deployed, run_sentinel, aws):
    suffix = uuid.uuid4().hex[:8]
    iam = aws("iam")
    group = iam.create_group(GroupName=f"ops-{suffix}")["Group"]
    policy = iam.create_policy(
        PolicyName=f"cleanup-{suffix}",
        PolicyDocument=json.dumps(_doc(_allow("iam:Delete*", "arn:aws:iam::*:role/prod-*"))),
    )["Policy"]
    iam.attach_group_policy(GroupName=group["GroupName"], PolicyArn=policy["Arn"])
    try:
        result = run_sentinel(["tvm", "check", *deployed.check_flags()])
    finally:  # the grant matches every other test's protected role too
        iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=policy["Arn"])
    assert result.returncode == 1
    [line] = _problems(result)
    short = deployed.protected_role.rsplit("/", 1)[-1]
    assert (
        f"problem: {group['Arn']}: group may delete a revocation policy of {short} through "
        f"managed policy {policy['Arn']}: "
    ) in line


def test_assuming_a_protected_role_outside_the_service_is_found(deployed, run_sentinel, aws):
    iam = aws("iam")
    user = iam.create_user(UserName=f"direct-{uuid.uuid4().hex[:8]}")["User"]
    iam.put_user_policy(
        UserName=user["UserName"],
        PolicyName="assume-prod",
        PolicyDocument=json.dumps(_doc(_allow("sts:AssumeRole", deployed.protected_role))),
    )
    # while the role trusts only the service, the grant gives nothing: no finding
    tight = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert tight.returncode == 0, tight.stdout
    # once the role trusts the account again, the grant lets the user in
    name = deployed.protected_role.rsplit("/", 1)[-1]
    doc = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{deployed.account}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc))
    loose = run_sentinel(["tvm", "check", *deployed.check_flags()])
    assert loose.returncode == 1
    found = _problems(loose)
    assert any(deployed.protected_role in ln and ":root" in ln for ln in found)
    assert any(
        ln.startswith(f"problem: {user['Arn']}: user may assume {name} outside the service")
        for ln in found
    ), found
