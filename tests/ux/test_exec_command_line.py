"""``sentinel exec`` parses like aws-vault: unknown options are usage errors, --duration,
--mfa-token and --no-cache work, and the child's region follows the documented order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from uxhelpers import PY, one_error_line, sandbox_client, ux_env

ENV_DUMP = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.fixture
def env(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return ux_env(sandbox, sandbox_env, tmp_path)


def _exec(run_sentinel: Any, env: dict[str, str], *args: str) -> Any:
    return run_sentinel(["exec", "--policy", env["UX_POLICY"], *args], env=env)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["exec", "--bogus"], "No such option '--bogus'"),
        (["exec", "--bogus", "dev", "--", "true"], "No such option '--bogus'"),
        (["exce", "dev"], "Did you mean 'exec'?"),
        (["policy", "explian"], "Did you mean 'explain'?"),
        (["exec", "--mfa-token", "12ab", "dev", "--", "true"], "6 digits"),
        (["exec", "--duration", "5m", "dev", "--", "true"], "out of range"),
    ],
)
def test_usage_errors_are_one_line(
    run_sentinel: Any, env: dict[str, str], args: list[str], fragment: str
) -> None:
    proc = run_sentinel(args, env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc.stderr)
    assert fragment in line
    assert "--help" in line or "Use a value" in line
    assert "Traceback" not in proc.stderr and "Usage:" not in proc.stderr


def test_usage_line_and_examples(run_sentinel: Any, env: dict[str, str]) -> None:
    proc = run_sentinel(["exec", "--help"], env=env)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == (
        "Usage: sentinel exec [OPTIONS] [PROFILE] [-- COMMAND [ARG...]]"
    )
    assert "Examples:" in proc.stdout and "sentinel exec dev -- " in proc.stdout


def _expiry_hours(child_env: dict[str, str]) -> float:
    expiry = datetime.fromisoformat(child_env["AWS_CREDENTIAL_EXPIRATION"].replace("Z", "+00:00"))
    return (expiry - datetime.now(UTC)).total_seconds() / 3600


def test_duration_before_the_separator(run_sentinel: Any, env: dict[str, str]) -> None:
    proc = _exec(
        run_sentinel,
        env,
        "--duration",
        "30m",
        "--no-cache",
        "--profile",
        "dev",
        "--",
        PY,
        "-c",
        ENV_DUMP,
    )
    assert proc.returncode == 0, proc.stderr
    assert 0.4 < _expiry_hours(json.loads(proc.stdout)) <= 0.5


def test_duration_capped_by_the_role_maximum(
    run_sentinel: Any, env: dict[str, str], sandbox: Any
) -> None:
    import uuid

    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    iam = sandbox_client(sandbox, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:*",
                "Principal": {"AWS": f"arn:aws:iam::{sandbox.account_id}:root"},
            }
        ],
    }
    role = iam.create_role(
        RoleName=f"ux-short-{uuid.uuid4().hex[:8]}",
        MaxSessionDuration=7200,
        AssumeRolePolicyDocument=json.dumps(trust),
    )["Role"]
    config = Path(env["AWS_CONFIG_FILE"])
    config.write_text(
        config.read_text() + f"\n[profile dev-short]\nrole_arn = {role['Arn']}\n"
        f"source_profile = {SOURCE_PROFILE}\n"
    )
    policy = Path(env["UX_POLICY"])
    policy.write_text(policy.read_text().replace("dev-mfa]", "dev-mfa, dev-short]"))
    proc = _exec(
        run_sentinel, env, "--duration", "4h", "--no-cache", "dev-short", "--", PY, "-c", ENV_DUMP
    )
    assert proc.returncode == 0, proc.stderr
    assert "capped at 2h, the role" in proc.stderr
    assert 1.9 < _expiry_hours(json.loads(proc.stdout)) <= 2


def test_duration_capped_by_the_policy(
    run_sentinel: Any, env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "short.yaml"
    policy.write_text(
        "policies:\n  - name: dev-short\n    match: {profile: dev}\n"
        "    effect: allow\n    max_server_duration: 20m\n"
    )
    proc = run_sentinel(
        [
            "exec",
            "--policy",
            str(policy),
            "--duration",
            "45m",
            "--no-cache",
            "dev",
            "--",
            PY,
            "-c",
            ENV_DUMP,
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "capped at 20m by the policy" in proc.stderr
    assert _expiry_hours(json.loads(proc.stdout)) <= 20 / 60


def test_mfa_token_without_a_terminal(run_sentinel: Any, env: dict[str, str]) -> None:
    asked = _exec(run_sentinel, env, "dev-mfa", "--", "true")
    assert asked.returncode == 2
    assert "no terminal" in one_error_line(asked.stderr)
    given = _exec(
        run_sentinel,
        env,
        "--mfa-token",
        "123456",
        "dev-mfa",
        "--",
        PY,
        "-c",
        "import os; print(os.environ['AWS_SENTINEL'])",
    )
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == "dev-mfa"


def test_exec_uses_the_cache_unless_no_cache(run_sentinel: Any, env: dict[str, str]) -> None:
    cache = Path(env["HOME"]) / ".sentinel" / "cache"
    key = "import os; print(os.environ['AWS_ACCESS_KEY_ID'])"
    first = _exec(run_sentinel, env, "--no-cache", "dev", "--", PY, "-c", key)
    assert first.returncode == 0, first.stderr
    assert not list(cache.glob("*.json"))  # credential entries (config/ is the config cache)
    second = _exec(run_sentinel, env, "dev", "--", PY, "-c", key)
    third = _exec(run_sentinel, env, "dev", "--", PY, "-c", key)
    assert second.returncode == third.returncode == 0
    assert len(list(cache.glob("*.json"))) == 1
    assert second.stdout == third.stdout != first.stdout


@pytest.mark.parametrize(
    ("extra_env", "flags", "expected"),
    [
        ({}, [], "eu-central-1"),  # the profile's region, not defaults.region (us-east-1)
        ({"AWS_REGION": "ap-south-1"}, [], "ap-south-1"),
        ({"AWS_DEFAULT_REGION": "sa-east-1"}, [], "sa-east-1"),
        ({"AWS_REGION": "ap-south-1"}, ["--region", "us-west-2"], "us-west-2"),
    ],
)
@pytest.mark.parametrize("server", [False, True])
def test_child_region(
    run_sentinel: Any,
    env: dict[str, str],
    extra_env: dict[str, str],
    flags: list[str],
    expected: str,
    server: bool,
) -> None:
    code = (
        "import os, botocore.session; s = botocore.session.Session(); "
        "print(os.environ['AWS_REGION'], s.get_config_variable('region'))"
    )
    mode = ["--server", "--no-session-tracking"] if server else []
    proc = run_sentinel(
        ["exec", "--policy", env["UX_POLICY"], *mode, *flags, "dev-eu", "--", PY, "-c", code],
        env=dict(env, **extra_env),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, expected]


def test_child_region_falls_back_to_defaults(
    run_sentinel: Any, env: dict[str, str], sandbox: Any
) -> None:
    show = ["--", PY, "-c", "import os; print(os.environ['AWS_REGION'])"]
    # no region in the profile: the defaults; exec's options before or after the profile
    for args in (["--mfa-token", "123456", "dev-mfa"], ["dev-mfa", "--mfa-token", "123456"]):
        proc = _exec(run_sentinel, env, *args, *show)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == sandbox.region


def test_mfa_prompt_on_a_terminal_does_not_echo(env: dict[str, str]) -> None:
    import fcntl
    import os
    import pty
    import select
    import subprocess
    import termios

    from tests.conftest import sentinel_command

    primary, secondary = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    argv = [
        *sentinel_command(),
        "exec",
        "--policy",
        env["UX_POLICY"],
        "dev-mfa",
        "--",
        PY,
        "-c",
        "import os; print('child', os.environ['AWS_SENTINEL'])",
    ]
    proc = subprocess.Popen(
        argv,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        preexec_fn=controlling_terminal,
        close_fds=True,
    )
    os.close(secondary)
    out = b""
    sent = False
    while True:
        ready, _, _ = select.select([primary], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not sent and b"MFA code" in out:
            os.write(primary, b"654321\n")
            sent = True
    proc.wait(timeout=60)
    os.close(primary)
    text = out.decode(errors="replace")
    assert sent and proc.returncode == 0, text
    assert "child dev-mfa" in text
    assert "654321" not in text


def test_duration_in_server_mode_is_the_served_lifetime(
    run_sentinel: Any, env: dict[str, str]
) -> None:
    code = (
        "import boto3, datetime; c = boto3.Session().get_credentials(); "
        "c.get_frozen_credentials(); print(c._expiry_time.isoformat())"
    )
    proc = _exec(
        run_sentinel,
        env,
        "--server",
        "--no-session-tracking",
        "--duration",
        "20m",
        "dev",
        "--",
        PY,
        "-c",
        code,
    )
    assert proc.returncode == 0, proc.stderr
    expiry = datetime.fromisoformat(proc.stdout.strip())
    minutes = (expiry - datetime.now(UTC)).total_seconds() / 60
    assert 15 < minutes <= 20
    both = _exec(
        run_sentinel,
        env,
        "--server",
        "--duration",
        "20m",
        "--server-duration",
        "20m",
        "dev",
        "--",
        "true",
    )
    assert both.returncode == 2 and "not both" in one_error_line(both.stderr)
