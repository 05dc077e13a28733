"""``sentinel init tvm --output cloudformation``: the template passes cfn-lint and matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnhelpers import Lint, lint

from sentinelgw.service.deploy.cloudformation import template
from sentinelgw.service.deploy.package import build_package
from sentinelgw.service.deploy.spec import DeploySpec
from sentinelgw.service.policies import protected_role_trust_policy
from sentinelgw.sessions.schema import SPEC

PROD = "arn:aws:iam::123456789012:role/prod"


def _lint(path: Path) -> Lint:
    return lint(path)


def _spec(*roles: str) -> DeploySpec:
    return DeploySpec(
        region="eu-west-1", account="", table="sentinel-sessions", protected_roles=roles
    )


@pytest.mark.parametrize("roles", [(PROD,), ()], ids=["protected-role", "no-protected-role"])
def test_the_cli_template_passes_cfn_lint(roles, run_sentinel, tmp_path):
    flags = [arg for role in roles for arg in ("--protect-role", role)]
    result = run_sentinel(["init", "tvm", "--output", "cloudformation", *flags])
    assert result.returncode == 0, result.stderr
    path = tmp_path / "sentinel-tvm.json"
    path.write_text(result.stdout)
    assert json.loads(result.stdout)["Resources"]["FunctionUrl"]["Type"] == "AWS::Lambda::Url"
    lint = _lint(path)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_cfn_lint_rejects_a_broken_template(tmp_path):
    # The lint must be able to fail: a function with an unknown runtime is an error.
    broken = template(_spec(PROD))
    broken["Resources"]["Function"]["Properties"]["Runtime"] = "python2.1"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    lint = _lint(path)
    assert lint.returncode != 0
    assert "python2.1" in lint.stdout


def test_template_resources_match_the_imperative_deployment():
    doc = template(_spec(PROD))
    res = doc["Resources"]
    table = res["SessionTable"]
    want = {k: v for k, v in SPEC.create_request("x").items() if k != "TableName"}
    assert {k: table["Properties"][k] for k in want} == want
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": SPEC.ttl_attribute,
        "Enabled": True,
    }
    assert table["DeletionPolicy"] == "Retain"
    assert res["FunctionUrl"]["Properties"]["AuthType"] == "AWS_IAM"
    fn = res["Function"]["Properties"]
    assert fn["Handler"] == "sentinelgw.service.lambda_handler.handler"
    assert set(fn["Environment"]["Variables"]) == {
        "SENTINEL_SESSION_TABLE",
        "SENTINEL_POLICY_PARAMETER",
        "SENTINEL_SERVICE_ID",
    }
    [policy] = res["ExecutionRole"]["Properties"]["Policies"]
    sids = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
    assert sids["SentinelAssumeProtectedRoles"]["Resource"] == [PROD]
    assert sids["SentinelSessionTable"]["Resource"][0] == {
        "Fn::Sub": (
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
        )
    }


def test_the_trust_policy_output_is_the_protected_role_policy():
    out = template(_spec(PROD))["Outputs"]["ProtectedRoleTrustPolicy"]["Value"]["Fn::Sub"]
    role = "arn:aws:iam::123456789012:role/sentinel-tvm"
    assert json.loads(out.replace("${ExecutionRole.Arn}", role)) == (
        protected_role_trust_policy(role)
    )


def test_out_and_package_out_write_files(run_sentinel, tmp_path):
    tpl, zip_path = tmp_path / "t.json", tmp_path / "fn.zip"
    result = run_sentinel(
        [
            "init",
            "tvm",
            "--output",
            "cloudformation",
            "--out",
            str(tpl),
            "--package-out",
            str(zip_path),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "AWS::Lambda::Function" in tpl.read_text()
    assert zip_path.read_bytes() == build_package().data


def test_out_without_output_is_a_usage_error(run_sentinel, tmp_path):
    result = run_sentinel(["init", "tvm", "--out", str(tmp_path / "t.json")])
    assert result.returncode == 2
    assert "--output cloudformation" in result.stderr


def test_the_deployed_template_names_the_code_and_passes_cfn_lint(tmp_path):
    # init tvm writes the content-addressed code key into the template it deploys
    doc = template(_spec(PROD), code=("code-bucket", "sentinel-tvm/abc.zip"))
    code = doc["Resources"]["Function"]["Properties"]["Code"]
    assert code == {"S3Bucket": "code-bucket", "S3Key": "sentinel-tvm/abc.zip"}
    assert "CodeS3Bucket" not in doc["Parameters"] and "CodeS3Key" not in doc["Parameters"]
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(doc))
    lint = _lint(path)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_an_existing_table_or_parameter_stays_out_of_the_stack_by_condition():
    doc = template(_spec(PROD))
    res, conditions = doc["Resources"], doc["Conditions"]
    assert res["SessionTable"]["Condition"] == "SessionTableInStack"
    assert res["PolicyParameter"]["Condition"] == "PolicyParameterInStack"
    assert conditions["SessionTableInStack"] == {
        "Fn::Equals": [{"Ref": "CreateSessionTable"}, "true"]
    }
    # the function names the table and parameter by parameter, never by a conditional resource
    env = res["Function"]["Properties"]["Environment"]["Variables"]
    assert env["SENTINEL_SESSION_TABLE"] == {"Ref": "TableName"}
    assert env["SENTINEL_POLICY_PARAMETER"] == {"Ref": "PolicyParameterName"}
    # a template whose only reference to the table goes through the condition still lints
    for name in ("CreateSessionTable", "CreatePolicyParameter"):
        assert doc["Parameters"][name]["AllowedValues"] == ["true", "false"]
