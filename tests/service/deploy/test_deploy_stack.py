"""``sentinel init tvm``: one CloudFormation stack through a change set, on the sandbox."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from tests.service.deploy.conftest import Deployment, new_deployment

from sentinelgw.policy.loader import load_policy_text
from sentinelgw.service.deploy.package import build_package
from sentinelgw.service.policies import protected_role_trust_policy, service_role_policy
from sentinelgw.sessions.schema import ensure_table

NOT_FOUND = {"NoSuchEntity", "ResourceNotFoundException", "ParameterNotFound", "ValidationError"}


def _exists(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except Exception as exc:  # botocore's not-found errors, whatever their class
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        assert code in NOT_FOUND, exc
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


def _stack(aws: Callable[[str], Any], name: str) -> dict[str, Any] | None:
    try:
        return dict(aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0])
    except Exception as exc:
        assert "does not exist" in str(exc), exc
        return None


def _stack_resources(aws: Callable[[str], Any], name: str) -> set[str]:
    got = aws("cloudformation").list_stack_resources(StackName=name)
    return {r["LogicalResourceId"] for r in got["StackResourceSummaries"]}


def _change_sets(aws: Callable[[str], Any], name: str) -> list[Any]:
    try:
        return list(aws("cloudformation").list_change_sets(StackName=name)["Summaries"])
    except Exception as exc:
        assert "does not exist" in str(exc), exc
        return []


def _trust(aws: Callable[[str], Any], role_arn: str) -> dict[str, Any]:
    doc = aws("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
    return dict(doc["AssumeRolePolicyDocument"])


def test_plan_shows_the_change_set_and_the_trust_diff_and_changes_nothing(
    deployment, run_sentinel, aws
):
    trust_before = _trust(aws, deployment.protected_role)
    plan = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert plan.returncode == 0, plan.stderr
    for line in (
        f"stack {deployment.name} (create, change set):",
        "+ add ExecutionRole (AWS::IAM::Role)",
        "+ add SessionTable (AWS::DynamoDB::Table)",
        "+ add PolicyParameter (AWS::SSM::Parameter)",
        "+ add Function (AWS::Lambda::Function)",
        "+ add FunctionUrl (AWS::Lambda::Url)",
        "protected roles (outside the stack, changed after it):",
        f"~ update trust policy {deployment.protected_role}",
    ):
        assert line in plan.stdout
    # the trust policy change is shown as a diff: the account root out, the service role in
    assert f'-          "arn:aws:iam::{deployment.account}:root"' in plan.stdout
    assert f'+          "{deployment.role_arn}"' in plan.stdout
    assert '+          "sts:SourceIdentity": "sentinel.*"' in plan.stdout
    assert not any(_resources(deployment, aws).values())
    assert _trust(aws, deployment.protected_role) == trust_before
    # the change set, and the empty stack it needed, are gone again
    assert _stack(aws, deployment.name) is None


def test_without_yes_and_without_a_terminal_it_prints_the_plan_and_exits_2(
    deployment, run_sentinel, aws
):
    result = run_sentinel(["init", "tvm", *deployment.flags()])
    assert result.returncode == 2
    assert "+ add Function (AWS::Lambda::Function)" in result.stdout
    assert "--yes" in result.stderr and "Traceback" not in result.stderr
    assert not any(_resources(deployment, aws).values())
    assert _stack(aws, deployment.name) is None


def test_yes_deploys_one_stack_and_a_second_plan_is_empty(deployment, run_sentinel, aws):
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    assert f"done: stack {deployment.name}: CREATE_COMPLETE" in done.stdout
    assert all(_resources(deployment, aws).values())
    stack = _stack(aws, deployment.name)
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    assert _stack_resources(aws, deployment.name) == {
        "ExecutionRole",
        "SessionTable",
        "PolicyParameter",
        "LogGroup",
        "Function",
        "FunctionUrl",
        "SweepSchedule",  # expiry of access requests without traffic
        "SweepPermission",
    }
    url = aws("lambda").get_function_url_config(FunctionName=deployment.name)
    assert url["AuthType"] == "AWS_IAM"
    assert f"export SENTINEL_REMOTE={url['FunctionUrl']}" in done.stdout
    again = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert again.returncode == 0, again.stderr
    assert "is already up to date" in again.stdout
    assert "+ add" not in again.stdout and "~ " not in again.stdout
    # no change set is left waiting to be executed
    pending = [c for c in _change_sets(aws, deployment.name) if c["ExecutionStatus"] == "AVAILABLE"]
    assert pending == []


@pytest.fixture(scope="module")
def deployed(sandbox: Any, aws: Callable[[str], Any], tmp_path_factory: Any) -> Deployment:
    """One ``sentinel init tvm --yes`` that the tests below only read (none of them changes the
    deployment), instead of a stack of their own each."""
    deployment = new_deployment(sandbox, aws)
    home: Path = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env.update(sandbox.env(), HOME=str(home), LANG="C.UTF-8", COLUMNS="200")
    done = run_cli(["init", "tvm", *deployment.flags(), "--yes"], env)
    assert done.returncode == 0, done.stderr
    return deployment


def test_the_code_goes_to_s3_under_a_content_addressed_key(deployed, aws):
    package = build_package()
    bucket = f"sentinel-tvm-code-{deployed.account}-{deployed.region}"
    key = f"sentinel-tvm/{hashlib.sha256(package.data).hexdigest()}.zip"
    body = aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == package.data
    config = aws("lambda").get_function(FunctionName=deployed.name)["Configuration"]
    assert config["CodeSha256"] == package.code_sha256


def test_a_named_code_bucket_is_created_and_used(deployment, run_sentinel, aws):
    bucket = f"code-{deployment.name}"
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--code-bucket", bucket, "--yes"])
    assert done.returncode == 0, done.stderr
    assert f"done: created code bucket {bucket}" in done.stdout
    keys = [o["Key"] for o in aws("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"sentinel-tvm/{hashlib.sha256(build_package().data).hexdigest()}.zip"]
    block = aws("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


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


def test_function_runs_the_installed_package_with_the_service_settings(deployed, aws):
    config = aws("lambda").get_function(FunctionName=deployed.name)["Configuration"]
    assert config["Handler"] == "sentinelgw.service.lambda_handler.handler"
    assert config["Role"] == deployed.role_arn
    assert config["Environment"]["Variables"] == {
        "SENTINEL_SESSION_TABLE": deployed.table,
        "SENTINEL_POLICY_PARAMETER": deployed.parameter,
        "SENTINEL_SERVICE_ID": deployed.function_arn,
    }


def _existing_parameter_and_table(deployment: Any, aws: Callable[[str], Any]) -> None:
    aws("ssm").put_parameter(Name=deployment.parameter, Value="operator: policy", Type="String")
    ensure_table(aws("dynamodb"), deployment.table, plan=False, wait=False)


def test_the_plan_says_an_existing_parameter_and_table_stay_outside_the_stack(
    deployment, run_sentinel, aws
):
    _existing_parameter_and_table(deployment, aws)
    plan = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert plan.returncode == 0, plan.stderr
    assert f"= session table {deployment.table} exists: it stays outside the stack" in plan.stdout
    assert f"= policy parameter {deployment.parameter} exists" in plan.stdout
    assert "SessionTable" not in plan.stdout and "PolicyParameter" not in plan.stdout


def test_an_existing_parameter_and_table_stay_outside_the_stack_untouched(
    deployment, run_sentinel, aws
):
    _existing_parameter_and_table(deployment, aws)
    done = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert done.returncode == 0, done.stderr
    value = aws("ssm").get_parameter(Name=deployment.parameter)["Parameter"]["Value"]
    assert value == "operator: policy"
    owned = _stack_resources(aws, deployment.name)
    assert "SessionTable" not in owned and "PolicyParameter" not in owned
    # once deployed, a second run keeps them outside (it does not flip to creating them)
    again = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"])
    assert "is already up to date" in again.stdout, again.stdout + again.stderr


def test_a_failed_creation_rolls_back_and_says_what_failed(deployment, run_sentinel, aws):
    # The function's log group exists outside any stack (Lambda made it for an earlier,
    # hand-made function): the stack creates the role, table and parameter, then fails on it.
    log_group = f"/aws/lambda/{deployment.name}"
    aws("logs").create_log_group(logGroupName=log_group)
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--yes"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "<" not in result.stderr
    assert f"deploying stack {deployment.name} failed:" in result.stderr
    assert deployment.name in result.stderr.split("failed:", 1)[1]
    assert "rolled back" in result.stderr
    assert _stack(aws, deployment.name) is None
    assert not _exists(lambda: aws("iam").get_role(RoleName=deployment.name))
    assert not _exists(lambda: aws("ssm").get_parameter(Name=deployment.parameter))
    # the protected role's trust policy is a later step: never reached
    assert deployment.role_arn not in json.dumps(_trust(aws, deployment.protected_role))
    assert not _exists(lambda: aws("lambda").get_function(FunctionName=deployment.name))
    # what was there before is left alone
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [log_group]


def test_a_missing_protected_role_blocks_the_deployment(deployment, run_sentinel, aws):
    ghost = f"arn:aws:iam::{deployment.account}:role/{deployment.name}-ghost"
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--protect-role", ghost, "--yes"])
    assert result.returncode == 2
    assert f"protected role {ghost} does not exist" in result.stderr
    assert "nothing was changed" in result.stderr
    assert not any(_resources(deployment, aws).values())
    assert _stack(aws, deployment.name) is None


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
    assert _stack(aws, deployment.name) is None


def test_code_bucket_with_output_is_a_usage_error(run_sentinel):
    result = run_sentinel(["init", "tvm", "--output", "cloudformation", "--code-bucket", "b"])
    assert result.returncode == 2
    assert "--code-bucket" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreachable_endpoint_is_exit_2_without_traceback(deployment, run_sentinel, sandbox_env):
    env = dict(sandbox_env, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    result = run_sentinel(["init", "tvm", *deployment.flags(), "--plan"], env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "could not reach the endpoint" in result.stderr
