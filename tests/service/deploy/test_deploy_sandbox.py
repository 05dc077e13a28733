"""The deployment end to end on the enforced sandbox (``sentinel dev``): the ``admin`` profile
plans, deploys and checks; alice and security may not deploy; ``tvm check`` names the sandbox's
deliberately over-broad ``sentinel-dev`` role."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.service.conftest import Enforced, _base_env, _keys

from sentinelgw.service.policies import protected_role_trust_policy

# The sandbox's own principals and what they hold by design (see sentinelgw.sandbox.service);
# admin, the platform team, may change the protected roles' trust policies (init tvm does).
SANDBOX_WRITERS = ("sentinel-dev", "sentinel-prod", "security", "sentinel-tvm", "admin")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` with ``env``, in this process as the installed script runs it (none of
    these commands needs a process of its own; ``run_cli`` says which do)."""
    return run_cli(list(args), env, timeout=120)


@pytest.fixture(scope="module")
def env(enforced: Enforced, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("deploy-home")
    return {**_base_env(Path(home)), **enforced.env}


@pytest.fixture(scope="module")
def protected(enforced: Enforced) -> str:
    """A role the platform team made for this test, trusting the whole account."""
    iam = _keys(enforced, "admin").client("iam", endpoint_url=enforced.endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    name = f"prod-{uuid.uuid4().hex[:8]}"
    return str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )


@pytest.fixture(scope="module")
def deployed_name(env: dict[str, str], protected: str) -> Iterator[str]:
    """A stack deployed on the enforced sandbox by ``admin``, protecting ``protected`` (its own
    names: the sandbox is shared with the other service tests)."""
    name = f"sentinel-tvm-{uuid.uuid4().hex[:8]}"
    done = _run(
        env,
        "--aws-profile",
        "admin",
        "init",
        "tvm",
        "--name",
        name,
        "--protect-role",
        protected,
        "--yes",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"done: trust policy of {protected}" in done.stdout
    yield name


def test_admin_plans_a_stack_on_the_enforced_sandbox(env):
    name = f"sentinel-tvm-{uuid.uuid4().hex[:8]}"
    plan = _run(env, "--aws-profile", "admin", "init", "tvm", "--name", name, "--plan")
    assert plan.returncode == 0, plan.stderr
    for line in (
        f"stack {name} (create, change set):",
        "+ add ExecutionRole (AWS::IAM::Role)",
        "+ add Function (AWS::Lambda::Function)",
        "+ add FunctionUrl (AWS::Lambda::Url)",
        "= session table sentinel-sessions exists: it stays outside the stack",
        "= policy parameter /sentinel/tvm/policy exists: it stays outside the stack",
    ):
        assert line in plan.stdout


def test_admin_deploys_the_stack_and_the_next_plan_is_empty(
    env, enforced, deployed_name, protected
):
    admin = _keys(enforced, "admin")
    cf = admin.client("cloudformation", endpoint_url=enforced.endpoint)
    [stack] = cf.describe_stacks(StackName=deployed_name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    lam = admin.client("lambda", endpoint_url=enforced.endpoint)
    url = lam.get_function_url_config(FunctionName=deployed_name)
    assert url["AuthType"] == "AWS_IAM"
    iam = admin.client("iam", endpoint_url=enforced.endpoint)
    trust = iam.get_role(RoleName=protected.rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
    role_arn = f"arn:aws:iam::123456789012:role/{deployed_name}"
    assert trust == protected_role_trust_policy(role_arn)
    again = _run(
        env,
        "--aws-profile",
        "admin",
        "init",
        "tvm",
        "--name",
        deployed_name,
        "--protect-role",
        protected,
        "--plan",
    )
    assert again.returncode == 0, again.stderr
    assert "is already up to date" in again.stdout
    assert f"export SENTINEL_REMOTE={url['FunctionUrl']}" in again.stdout


def test_lambda_reads_without_a_body_are_not_a_signature_error_under_enforcement(
    enforced, deployed_name
):
    # moto used to sign a bodiless GET over its parsed headers: SignatureDoesNotMatch for all
    admin = _keys(enforced, "admin").client("lambda", endpoint_url=enforced.endpoint)
    got = admin.get_function(FunctionName=deployed_name)["Configuration"]
    assert got["FunctionName"] == deployed_name
    security = _keys(enforced, "security").client("lambda", endpoint_url=enforced.endpoint)
    with pytest.raises(Exception) as denied:
        security.get_function(FunctionName=deployed_name)
    assert "AccessDenied" in str(denied.value)
    assert "SignatureDoesNotMatch" not in str(denied.value)


@pytest.mark.parametrize("profile", ["default", "security"], ids=["alice", "security"])
def test_alice_and_security_may_not_deploy(env, profile):
    result = _run(env, "--aws-profile", profile, "init", "tvm", "--plan")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("sentinel: error:") and "denied" in line
    assert "Traceback" not in result.stderr and "<" not in result.stderr


def test_tvm_check_names_sentinel_dev_as_a_way_around_the_service(env, enforced, deployed_name):
    prod = enforced.role_arn("prod")
    result = _run(
        env,
        "--aws-profile",
        "admin",
        "tvm",
        "check",
        "--name",
        deployed_name,
        "--protect-role",
        prod,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    dev = enforced.role_arn("dev")
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith(f"problem: {dev}:")]
    assert "role (assumable by user sentinel-tvm, user alice) may write the session table" in line
    assert "change the trust policy of sentinel-prod" in line
    assert "delete a revocation policy of sentinel-prod" in line
    assert 'inline policy sandbox-admin: {"Action":"*","Effect":"Allow","Resource":"*"}' in line


def test_tvm_check_passes_once_the_sandbox_writers_are_allowed(env, deployed_name):
    flags = [arg for name in SANDBOX_WRITERS for arg in ("--allow-writer", name)]
    narrowed = _run(env, "--aws-profile", "admin", "tvm", "check", "--name", deployed_name, *flags)
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert narrowed.stdout.startswith("ok:")
    # without them the same check fails, naming sentinel-dev
    broad = _run(env, "--aws-profile", "admin", "tvm", "check", "--name", deployed_name)
    assert broad.returncode == 1
    assert "role/sentinel-dev:" in broad.stdout


def test_permissions_check_as_admin_finds_the_deployer_permissions_held(env):
    result = _run(env, "--aws-profile", "admin", "permissions", "check", "--as", "admin")
    assert result.returncode == 0, result.stdout + result.stderr
    # moto has no policy simulator: the check reads the principal's policies and says so
    assert "deployer permissions for arn:aws:iam::123456789012:user/admin, from its " in (
        result.stdout
    )
    assert "iam:SimulatePrincipalPolicy unavailable" in result.stdout
    assert result.stdout.rstrip().endswith("permission(s) held")


def test_permissions_check_as_alice_names_what_she_lacks(env):
    result = _run(env, "--aws-profile", "admin", "permissions", "check", "--as", "default")
    assert result.returncode == 1, result.stdout + result.stderr
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/sentinel-tvm/*"
    assert f"  missing  cloudformation:ExecuteChangeSet on {stack}" in result.stdout
    assert "permission(s) missing" in result.stdout
