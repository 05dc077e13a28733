"""A require_server_session denial with no session table configured anywhere names the whole
fix: set defaults.session_table (or the rule's session_table), then run exec --server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.policy.test_policy_eval import AT

from sentinelgw.policy import denial_message, evaluate
from sentinelgw.policy.loader import load_policy_text
from sentinelgw.policy.model import Mode, Request

POLICY = """\
policies:
  - name: prod-tracked
    match:
      profile: prod
    effect: require_server_session
"""
FIX = (
    "set defaults.session_table in the Sentinel config (or session_table on the policy rule), "
    "then run: sentinel exec --server --profile prod -- ..."
)


def _request(mode: Mode) -> Request:
    return Request(profile="prod", user="alice", mode=mode, at=AT, session_table=None)


def test_exec_without_server_and_no_table_anywhere_names_the_setting_and_the_command() -> None:
    pol = load_policy_text(POLICY, "p.yaml")
    request = _request(Mode.CLI)
    message = denial_message(evaluate(pol, request), request)
    assert "requires server mode with session tracking for profile 'prod'" in message
    assert message.endswith(f"no session table is configured: {FIX}")


def test_exec_server_with_no_table_anywhere_names_the_setting_and_the_command() -> None:
    pol = load_policy_text(POLICY, "p.yaml")
    request = _request(Mode.SERVER)
    message = denial_message(evaluate(pol, request), request)
    assert message.endswith(f"but no session table is configured: {FIX}")


def test_a_rule_with_its_own_table_keeps_the_plain_fix() -> None:
    pol = load_policy_text(POLICY + "    session_table: rule-table\n", "p.yaml")
    request = _request(Mode.CLI)
    message = denial_message(evaluate(pol, request), request)
    assert "defaults.session_table" not in message
    assert "sentinel exec --server --session-table rule-table --profile prod" in message


def test_cli_exec_profile_prod_with_no_table_prints_the_fix(
    run_sentinel: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(POLICY)
    marker = tmp_path / "ran"
    env = {**sandbox_env, "SENTINEL_CONFIG": str(config)}
    env.pop("SENTINEL_SESSION_TABLE", None)
    out = run_sentinel(
        ["exec", "--profile", "prod", "--", "python3", "-c", f"open({str(marker)!r}, 'w')"],
        env=env,
    )
    assert out.returncode == 1, out.stderr
    [line] = out.stderr.splitlines()
    assert line.startswith("sentinel: error: ") and line.endswith(FIX)
    assert not marker.exists()
