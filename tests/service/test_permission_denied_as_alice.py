"""The security team's commands run as alice (an ordinary user) on the enforced sandbox: each
prints exactly one line saying what was denied, the permission it needs and the security
team's profile to use instead (defaults.security_profile), never AWS's raw XML answer. With
--debug the raw answer is shown. Bad credentials are one line as well (SignatureDoesNotMatch).
"""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from tests.service.conftest import _base_env

RAW = ("<?xml", "<!doctype", "<html", "<error")
SESSION_ID = "0123456789abcdef"
SECURITY_COMMANDS = {
    "server-sessions": ["server-sessions"],
    "server-session": ["server-session", SESSION_ID],
    "server-revoke": ["server-revoke", SESSION_ID, "--reason", "test", "--yes"],
    "server-blocks": ["server-blocks"],
    "audit-untracked": ["audit", "untracked-sessions"],
    "audit-compliance": ["audit", "session-compliance"],
    "exec-local-server": ["exec", "--local", "--server", "--profile", "prod", "--", "true"],
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    return run_cli(list(args), env, timeout=120)


def _one_clean_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    [line] = lines
    assert line.startswith("sentinel: error: "), line
    for marker in RAW:
        assert marker not in line.lower(), line
    return line


@pytest.fixture(scope="module")
def _tracked_session(enforced: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """alice has run a tracked session through the service (once for the module: the session
    and its CloudTrail events stay in the shared sandbox)."""
    env = {**_base_env(tmp_path_factory.mktemp("home")), **enforced.env}
    started = _run(env, "exec", "--server", "--profile", "prod", "--", "true")
    assert started.returncode == 0, started.stderr


@pytest.fixture
def with_a_tracked_session(alice_env: dict[str, str], _tracked_session: None) -> dict[str, str]:
    """alice's environment once she has run a tracked session through the service, so the
    audits have CloudTrail events to match against the session table."""
    return alice_env


@pytest.mark.parametrize("command", list(SECURITY_COMMANDS))
def test_security_commands_as_alice_are_one_line_with_the_permission_and_profile_hint(
    with_a_tracked_session: dict[str, str], command: str
) -> None:
    out = _run(with_a_tracked_session, *SECURITY_COMMANDS[command])
    assert out.returncode == 2, out.stdout + out.stderr
    line = _one_clean_line(out)
    assert "on session table 'sentinel-sessions' in us-east-1 was denied (AccessDenied)" in line
    assert "The caller needs dynamodb:" in line
    assert line.endswith("(security team: add --aws-profile security)"), line
    assert "<" not in out.stdout


def test_the_raw_answer_is_shown_with_debug_only(alice_env: dict[str, str]) -> None:
    out = _run(alice_env, "--debug", "server-sessions")
    assert out.returncode == 2
    assert "sentinel: debug: AWS answered: <?xml" in out.stderr
    assert out.stderr.rstrip().splitlines()[-1].startswith("sentinel: error: dynamodb:Query")


def test_the_hint_is_left_out_when_the_security_profile_is_in_use(
    alice_env: dict[str, str],
) -> None:
    out = _run(alice_env, "--aws-profile", "security", "init", "tvm", "--plan")
    assert out.returncode == 2
    line = _one_clean_line(out)
    assert "was denied" in line and "--aws-profile security" not in line


def test_tvm_check_with_a_bad_signature_is_one_line(alice_env: dict[str, str]) -> None:
    keys = configparser.ConfigParser()
    keys.read(Path(alice_env["AWS_SHARED_CREDENTIALS_FILE"]))
    env = {
        **alice_env,
        "AWS_ACCESS_KEY_ID": keys["admin"]["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": "not-the-secret-of-this-key",
    }
    out = _run(env, "tvm", "check")
    assert out.returncode == 2
    line = _one_clean_line(out)
    assert line == (
        "sentinel: error: sts:GetCallerIdentity failed: the credentials are invalid or expired "
        "(SignatureDoesNotMatch). Refresh them (for SSO: 'aws sso login') and check the clock; "
        "then try again"
    )
