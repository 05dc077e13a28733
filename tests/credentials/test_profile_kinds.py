"""Profile kinds beyond the sandbox defaults: role options (external_id, duration_seconds,
mfa_serial), static keys, and the errors of a broken profile."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import sentinel_command

PY = sys.executable


@pytest.fixture
def extra_env(sandbox, sandbox_env, tmp_path) -> dict[str, str]:
    """The sandbox env with an AWS config that adds profiles, and a policy allowing them."""
    config = tmp_path / "aws-config"
    base = Path(sandbox.aws_config_file).read_text()
    dev_role = sandbox.role_arns["dev"]
    creds = Path(sandbox.credentials_file).read_text()
    key = next(
        line.split("=", 1)[1].strip()
        for line in creds.splitlines()
        if line.startswith("aws_access_key_id")
    )
    secret = next(
        line.split("=", 1)[1].strip()
        for line in creds.splitlines()
        if line.startswith("aws_secret_access_key")
    )
    config.write_text(
        base
        + f"""
[profile ext]
role_arn = {dev_role}
source_profile = sentinel-source
external_id = ext-1234
duration_seconds = 1800

[profile mfa]
role_arn = {dev_role}
source_profile = sentinel-source
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile static]
aws_access_key_id = {key}
aws_secret_access_key = {secret}
region = us-east-1

[profile orphan-role]
role_arn = {dev_role}
"""
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: all\n    match: {profile: '*'}\n    effect: allow\n")
    return {**sandbox_env, "AWS_CONFIG_FILE": str(config), "SENTINEL_TEST_POLICY": str(policy)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sentinel_command(), *args, "--policy", env["SENTINEL_TEST_POLICY"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def last_assume_role(sandbox, prefix: str = "sentinel.") -> dict:
    events = [
        e
        for e in sandbox.recorder.events()
        if e["eventName"] == "AssumeRole"
        # refused AssumeRoles made with keys the sandbox issued carry no parameters
        and (e.get("requestParameters") or {}).get("roleSessionName", "").startswith(prefix)
    ]
    return events[-1]


def test_external_id_and_duration_seconds_reach_sts(extra_env, sandbox) -> None:
    out = run(extra_env, "credentials", "--no-cache", "--profile", "ext")
    assert out.returncode == 0, out.stderr
    params = last_assume_role(sandbox)["requestParameters"]
    assert params["externalId"] == "ext-1234"
    assert int(params["durationSeconds"]) == 1800


def test_static_key_profile_is_issued_as_is(extra_env) -> None:
    out = run(extra_env, "credentials", "--no-cache", "--profile", "static")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["Version"] == 1 and doc["AccessKeyId"].startswith(("AKIA", "ASIA"))


def test_role_without_source_is_a_config_error(extra_env) -> None:
    out = run(extra_env, "credentials", "--no-cache", "--profile", "orphan-role")
    assert out.returncode == 2
    assert "neither source_profile nor credential_source" in out.stderr


def test_mfa_code_is_asked_on_the_terminal(extra_env, sandbox) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: sentinel on a terminal
        os.execve(
            sentinel_command()[0],
            [
                *sentinel_command(),
                "credentials",
                "--no-cache",
                "--profile",
                "mfa",
                "--policy",
                extra_env["SENTINEL_TEST_POLICY"],
            ],
            extra_env,
        )
    output = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"MFA code for arn:aws:iam::123456789012:mfa/alice" in output:
            os.write(fd, b"123456\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert answered, output
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b'"Version": 1' in output
    assert last_assume_role(sandbox)["requestParameters"]["sourceIdentity"].startswith(
        "sentinel.alice."
    )


def test_mfa_without_a_terminal_is_a_clear_error(extra_env) -> None:
    out = subprocess.run(
        [
            *sentinel_command(),
            "credentials",
            "--no-cache",
            "--profile",
            "mfa",
            "--policy",
            extra_env["SENTINEL_TEST_POLICY"],
        ],
        env=extra_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert out.returncode == 2
    assert "MFA code" in out.stderr and "Traceback" not in out.stderr
