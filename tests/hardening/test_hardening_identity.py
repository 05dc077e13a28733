"""A caller-chosen role session name never passes for a user name.

The attack: alice's source profile is chained through a role with ``role_session_name =
ci-bot``, so GetCallerIdentity answers ``assumed-role/<role>/ci-bot``. Reading the session
name as the user made a ``user: ci-bot`` rule match alice. A ``user:`` rule matches only IAM
user names and Identity Center session names; other assumed roles are ``role/session``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from sentinelgw.credentials.identity import user_from_arn

Run = Callable[..., CompletedProcess[str]]
PY = sys.executable


@pytest.mark.parametrize(
    ("arn", "user"),
    [
        ("arn:aws:sts::123456789012:assumed-role/ci-role/ci-bot", "ci-role/ci-bot"),
        ("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0a1b/alice", "alice"),
        ("arn:aws:iam::123456789012:user/eng/alice", "alice"),
        ("arn:aws:sts::123456789012:federated-user/alice", "federated-user/alice"),
    ],
)
def test_only_iam_users_and_identity_center_sessions_are_bare_names(arn: str, user: str) -> None:
    assert user_from_arn(arn) == user


@pytest.fixture
def chained(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The sandbox's AWS config plus a profile chained through a role named by the caller."""
    config = tmp_path / "aws-config"
    config.write_text(
        Path(sandbox.aws_config_file).read_text() + "\n[profile ci-chain]\n"
        f"role_arn = {sandbox.role_arns['dev']}\n"
        "source_profile = sentinel-source\n"
        "role_session_name = ci-bot\n"
        "region = us-east-1\n"
        "\n[profile via-chain]\n"
        f"role_arn = {sandbox.role_arns['dev']}\n"
        "source_profile = ci-chain\n"
        "region = us-east-1\n"
    )
    env = dict(sandbox_env)
    env["AWS_CONFIG_FILE"] = str(config)
    return env


def sentinel_config(tmp_path: Path, user: str) -> Path:
    path = tmp_path / "sentinel-policy.yaml"
    path.write_text(
        "policies:\n"
        "  - name: ci-only\n"
        f"    match: {{profile: via-chain, user: '{user}'}}\n"
        "    effect: allow\n"
    )
    return path


def run_chained(run: Run, env: dict[str, str], config: Path) -> CompletedProcess[str]:
    return run(
        [
            "exec",
            "--config",
            str(config),
            "--profile",
            "via-chain",
            "--",
            PY,
            "-c",
            "print('child ran')",
        ],
        env=env,
    )


def test_role_session_name_cannot_pass_for_a_user_rule(
    run_sentinel: Run, chained: dict[str, str], tmp_path: Path
) -> None:
    denied = run_chained(run_sentinel, chained, sentinel_config(tmp_path, "ci-bot"))
    assert denied.returncode == 1, denied.stderr
    assert "child ran" not in denied.stdout


def test_a_config_chain_is_identified_by_the_user_at_its_start(
    run_sentinel: Run, chained: dict[str, str], tmp_path: Path, sandbox: Any
) -> None:
    """Sentinel assumes every hop of a config chain itself (one SourceIdentity through the
    chain), so the caller is alice, and neither the hop's session name nor the role/session
    form passes for her."""
    role = sandbox.role_arns["dev"].rsplit("/", 1)[-1]
    allowed = run_chained(run_sentinel, chained, sentinel_config(tmp_path, "alice"))
    assert allowed.returncode == 0, allowed.stderr
    assert "child ran" in allowed.stdout
    denied = run_chained(run_sentinel, chained, sentinel_config(tmp_path, f"{role}/ci-bot"))
    assert denied.returncode == 1, denied.stderr
