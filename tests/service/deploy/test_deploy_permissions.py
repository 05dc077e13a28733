"""``sentinel permissions``: each principal's IAM, from the builders the deployment uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnhelpers import Lint, lint

from sentinelgw.service.deploy.permission_check import Need, evaluate_read
from sentinelgw.service.deploy.principals import Account, Principal
from sentinelgw.service.policies import user_invoke_policy

PROD = "arn:aws:iam::123456789012:role/prod"


def _lint(path: Path) -> Lint:
    return lint(path)


@pytest.mark.parametrize("roles", [(PROD,), ()], ids=["protected-role", "no-protected-role"])
def test_permissions_cloudformation_passes_cfn_lint(roles, run_sentinel, tmp_path):
    flags = [arg for role in roles for arg in ("--protect-role", role)]
    result = run_sentinel(["permissions", "--format", "cloudformation", *flags])
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {r["Type"] for r in doc["Resources"].values()} == {"AWS::IAM::ManagedPolicy"}
    assert set(doc["Resources"]) == {
        "SentinelServicePolicy",
        "SentinelSecurityTeamPolicy",
        "SentinelUsersPolicy",
        "SentinelDeployerPolicy",
    }
    path = tmp_path / "permissions.json"
    path.write_text(result.stdout)
    lint = _lint(path)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_cfn_lint_rejects_a_broken_permissions_template(run_sentinel, tmp_path):
    result = run_sentinel(["permissions", "--format", "cloudformation", "--for", "users"])
    doc = json.loads(result.stdout)
    doc["Resources"]["SentinelUsersPolicy"]["Properties"]["PolicyDocument"]["Statement"][0][
        "Effect"
    ] = "Perhaps"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    assert _lint(path).returncode != 0


def test_the_service_policy_is_the_one_the_stack_put_on_the_role(deployed, run_sentinel, aws):
    flags = [
        "--name",
        deployed.name,
        "--table",
        deployed.table,
        "--policy-parameter",
        deployed.parameter,
        "--protect-role",
        deployed.protected_role,
    ]
    result = run_sentinel(["permissions", "--for", "service", "--format", "json", *flags])
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["service"]
    on_role = aws("iam").get_role_policy(RoleName=deployed.name, PolicyName="SentinelService")
    assert printed == on_role["PolicyDocument"]


def test_the_users_policy_is_the_invoke_only_policy(deployment, run_sentinel):
    result = run_sentinel(
        ["permissions", "--for", "users", "--format", "json", "--name", deployment.name]
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"users": user_invoke_policy(deployment.function_arn)}


def test_human_format_names_every_statement_and_action(run_sentinel):
    result = run_sentinel(["permissions", "--for", "deployer", "--protect-role", PROD])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("deployer: whoever runs 'sentinel init tvm'")
    for line in (
        "SentinelStack  on arn:aws:cloudformation:us-east-1:123456789012:stack/sentinel-tvm/*",
        "    cloudformation:ExecuteChangeSet",
        f"SentinelProtectedRoleTrust  on {PROD}",
        "    iam:UpdateAssumeRolePolicy",
        "    (only if iam:PassedToService StringEquals lambda.amazonaws.com)",
    ):
        assert line in out


def test_terraform_format_is_one_policy_per_principal_with_data_sources(run_sentinel):
    result = run_sentinel(["permissions", "--format", "terraform"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    names = re.findall(r'^resource "aws_iam_policy" "(\w+)" \{$', out, re.M)
    assert names == [
        "sentinel_service",
        "sentinel_security_team",
        "sentinel_users",
        "sentinel_deployer",
    ]
    bodies = re.findall(r"<<-POLICY\n(.*?)\n  POLICY", out, re.S)
    assert len(bodies) == 4
    for body in bodies:
        doc = json.loads(body)
        assert doc["Version"] == "2012-10-17" and doc["Statement"]
    assert "${data.aws_caller_identity.current.account_id}" in out
    assert "123456789012" not in out  # the account comes from Terraform, not from here


def test_without_credentials_the_account_is_a_placeholder(run_sentinel, sandbox_env, tmp_path):
    env = dict(
        sandbox_env,
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_MAX_ATTEMPTS="1",
    )
    result = run_sentinel(["permissions", "--for", "users", "--format", "json"], env=env)
    assert result.returncode == 0, result.stderr
    assert "arn:aws:lambda:us-east-1:<account>:function:sentinel-tvm" in result.stdout
    assert "pass --account" in result.stderr and "Traceback" not in result.stderr


def _principal(kind: str, name: str, *docs: dict, groups: tuple[str, ...] = ()) -> Principal:
    arn = f"arn:aws:iam::123456789012:{kind}/{name}"
    where = [(f"inline policy p{i}", d) for i, d in enumerate(docs)]
    return Principal(kind, name, arn, where, groups=list(groups))


def _doc(effect: str, action: str, resource: str) -> dict:
    return {"Statement": [{"Effect": effect, "Action": action, "Resource": resource}]}


def test_reading_policies_a_deny_wins_and_groups_count():
    need_put = Need("S", "s3:PutObject", "arn:aws:s3:::b/k")
    need_get = Need("S", "s3:GetObject", "arn:aws:s3:::b/k")
    group = _principal("group", "ops", _doc("Allow", "s3:*", "*"))
    user = _principal("user", "u", _doc("Deny", "s3:Put*", "*"), groups=("ops",))
    account = Account({"u": user}, {"ops": group}, {})
    put, get = evaluate_read(account, user.arn, [need_put, need_get])
    assert not put.allowed  # the user's Deny wins over the group's Allow
    assert get.allowed  # held through the group
    [unknown] = evaluate_read(account, "arn:aws:iam::123456789012:user/nobody", [need_get])
    assert not unknown.allowed
