"""``sentinel init tvm``: the plan, applying it, and idempotence, on the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sentinelgw.policy.loader import load_policy_text
from sentinelgw.service.deploy.package import build_package
from sentinelgw.service.policies import protected_role_trust_policy, service_role_policy


def _exists(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except Exception as exc:  # botocore's not-found errors, whatever their class
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        assert code in {"NoSuchEntity", "ResourceNotFoundException", "ParameterNotFound"}, exc
        return False
    return True


def _resources(d: Any, aws: Callable[[str], Any]) -> dict[str, bool]:
    lam = aws("lambda")
    return {
        "role": _exists(lambda: aws("iam").get_role(RoleName=d.name)),
        "table": _exists(lambda: aws("dynamodb").describe_table(TableName=d.table)),
        "parameter": _exists(lambda: aws("ssm").get_parameter(Name=d.parameter)),
        "function": _exists(lambda: lam.get_function(FunctionName=d.name)),
        "url": _exists(lambda: lam.get_function_url_config(FunctionName=d.name)),
    }


def _trust(aws: Callable[[str], Any], role_arn: str) -> dict[str, Any]:
    doc = aws("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
    return dict(doc["AssumeRolePolicyDocument"])


def test_plan_shows_every_resource_and_changes_nothing(deployment, run_sentinel, aws):
    trust_before = _trust(aws, deployment.protected_role)
    plan = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert plan.returncode == 0, plan.stderr
    for headline in (
        f"+ create role {deployment.name}",
        f"+ create table {deployment.table}",
        f"+ create parameter {deployment.parameter}",
        f"+ create function {deployment.name}",
        f"+ create function url {deployment.name}",
        f"~ update trust policy {deployment.protected_role}",
    ):
        assert headline in plan.stdout
    # the trust policy change is shown as a diff: the account root out, the service role in
    assert f'-          "arn:aws:iam::{deployment.account}:root"' in plan.stdout
    assert f'+          "{deployment.role_arn}"' in plan.stdout
    assert '+          "sts:SourceIdentity": "sentinel.*"' in plan.stdout
    assert not any(_resources(deployment, aws).values())
    assert _trust(aws, deployment.protected_role) == trust_before


def test_without_yes_and_without_a_terminal_it_prints_the_plan_and_exits_2(
    deployment, run_sentinel, aws
):
    result = run_sentinel(["init", "tvm", *deployment.flags()])
    assert result.returncode == 2
    assert f"+ create function {deployment.name}" in result.stdout
    assert "--yes" in result.stderr and "Traceback" not in result.stderr
    assert not any(_resources(deployment, aws).values())


def test_yes_applies_and_a_second_plan_is_empty(deployment, run_sentinel, aws):
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    assert all(_resources(deployment, aws).values())
    url = aws("lambda").get_function_url_config(FunctionName=deployment.name)
    assert url["AuthType"] == "AWS_IAM"
    assert f"export SENTINEL_REMOTE={url['FunctionUrl']}" in done.stdout
    again = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert again.returncode == 0, again.stderr
    assert "is already up to date" in again.stdout
    assert "+ create" not in again.stdout and "~ update" not in again.stdout


def test_applied_documents_are_exactly_the_builders(deployed, aws):
    iam = aws("iam")
    assert _trust(aws, deployed.protected_role) == protected_role_trust_policy(deployed.role_arn)
    inline = iam.get_role_policy(RoleName=deployed.name, PolicyName="SentinelService")
    log_group = (
        f"arn:aws:logs:{deployed.region}:{deployed.account}:log-group:/aws/lambda/{deployed.name}"
    )
    param_arn = f"arn:aws:ssm:{deployed.region}:{deployed.account}:parameter{deployed.parameter}"
    assert inline["PolicyDocument"] == service_role_policy(
        [deployed.protected_role], deployed.table_arn, param_arn, log_group_arn=log_group
    )
    own_trust = iam.get_role(RoleName=deployed.name)["Role"]["AssumeRolePolicyDocument"]
    assert own_trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_the_parameter_starts_with_a_valid_policy_that_denies_everything(deployed, aws):
    text = aws("ssm").get_parameter(Name=deployed.parameter)["Parameter"]["Value"]
    [rule] = load_policy_text(text, deployed.parameter).rules
    assert rule.effect.value == "deny" and rule.profiles == ("*",)


def test_an_existing_parameter_is_never_overwritten(deployment, run_sentinel, aws):
    aws("ssm").put_parameter(Name=deployment.parameter, Value="operator: policy", Type="String")
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    assert "create parameter" not in done.stdout
    value = aws("ssm").get_parameter(Name=deployment.parameter)["Parameter"]["Value"]
    assert value == "operator: policy"


def test_function_runs_the_installed_package_with_the_service_settings(deployed, aws):
    config = aws("lambda").get_function(FunctionName=deployed.name)["Configuration"]
    assert config["CodeSha256"] == build_package().code_sha256
    assert config["Handler"] == "sentinelgw.service.lambda_handler.handler"
    assert config["Role"] == deployed.role_arn
    assert config["Environment"]["Variables"] == {
        "SENTINEL_SESSION_TABLE": deployed.table,
        "SENTINEL_POLICY_PARAMETER": deployed.parameter,
        "SENTINEL_SERVICE_ID": deployed.function_arn,
    }


def test_drift_is_shown_and_repaired(deployed, run_sentinel, aws):
    lam = aws("lambda")
    lam.update_function_configuration(FunctionName=deployed.name, Timeout=3)
    lam.update_function_url_config(FunctionName=deployed.name, AuthType="NONE")
    loose = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    aws("iam").update_assume_role_policy(
        RoleName=deployed.protected_role.rsplit("/", 1)[-1], PolicyDocument=json.dumps(loose)
    )
    plan = run_sentinel(["init", "tvm", *deployed.flags(), "--plan"])
    assert plan.returncode == 0, plan.stderr
    assert f"~ update function configuration {deployed.name}" in plan.stdout
    assert "Timeout: 3 -> 15" in plan.stdout
    assert "AuthType NONE -> AWS_IAM" in plan.stdout
    assert f"~ update trust policy {deployed.protected_role}" in plan.stdout
    assert run_sentinel(["init", "tvm", *deployed.flags(), "--yes"]).returncode == 0
    assert (
        "is already up to date" in run_sentinel(["init", "tvm", *deployed.flags(), "--plan"]).stdout
    )


def test_a_missing_protected_role_blocks_the_deployment(deployment, run_sentinel, aws):
    ghost = f"arn:aws:iam::{deployment.account}:role/{deployment.name}-ghost"
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--protect-role", ghost, "--yes"])
    assert result.returncode == 2
    assert f"protected role {ghost} does not exist" in result.stderr
    assert "nothing was changed" in result.stderr
    assert not any(_resources(deployment, aws).values())


def test_a_table_with_another_schema_blocks_the_deployment(deployment, run_sentinel, aws):
    aws("dynamodb").create_table(
        TableName=deployment.table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert result.returncode == 2
    assert "key schema is pk HASH, expected id HASH" in result.stderr
    assert not _exists(lambda: aws("iam").get_role(RoleName=deployment.name))


def test_an_unreachable_endpoint_is_exit_2_without_traceback(deployment, run_sentinel, sandbox_env):
    env = dict(sandbox_env, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"], env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "could not reach the endpoint" in result.stderr
