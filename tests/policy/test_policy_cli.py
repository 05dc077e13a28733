"""``sentinel policy validate`` / ``explain`` run as the installed command."""

from __future__ import annotations

import json
from pathlib import Path

POLICY = """\
policies:
  - name: dev
    match: {profile: dev-*}
    effect: allow
  - name: prod-tracked
    match:
      profile: prod
      time: {days: [mon, tue, wed, thu, fri], hours: {start: "09:00", end: "18:00"},
             timezone: Europe/Berlin}
    effect: require_server_session
    reason: Production needs tracked, revocable sessions
  - name: prod-night
    match: {profile: prod}
    effect: deny
"""
MONDAY_NOON = "2026-01-26T11:00:00Z"


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_validate_valid(run_sentinel, tmp_path: Path) -> None:
    r = run_sentinel("policy", "validate", write(tmp_path, POLICY))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("policy.yaml: valid, 3 rules (policies: form)")


def test_validate_invalid_lists_every_problem(run_sentinel, tmp_path: Path) -> None:
    bad = POLICY.replace("effect: allow", "efect: allow").replace("Europe/Berlin", "Europe/Brln")
    path = write(tmp_path, bad)
    r = run_sentinel("policy", "validate", path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith(f"{path}:4: unknown key 'efect'")
    assert any(line.startswith(f"{path}:2: rule #1 has no 'effect'") for line in lines)
    assert any(f"{path}:9: unknown timezone 'Europe/Brln'" in line for line in lines)
    assert lines[-1] == f"sentinel: error: {path} is invalid: 3 problems (listed above)"
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_validate_stdin_and_missing_file(run_sentinel, tmp_path: Path) -> None:
    r = run_sentinel("policy", "validate", "-", stdin=POLICY)
    assert r.returncode == 0 and "<stdin>: valid" in r.stdout
    r = run_sentinel("policy", "validate", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert r.stderr.startswith("sentinel: error: cannot read policy file")
    assert len(r.stderr.strip().splitlines()) == 1


def explain(run_sentinel, *args: str, **kw):
    r = run_sentinel("policy", "explain", "--format", "json", *args, **kw)
    assert r.stderr == "" or r.returncode == 2, r.stderr
    return r, (json.loads(r.stdout) if r.returncode in (0, 1) else None)


def test_explain_allow_exits_0(run_sentinel, tmp_path: Path) -> None:
    r, d = explain(
        run_sentinel, "--policy", write(tmp_path, POLICY), "--profile", "dev-a", "--user", "alice"
    )
    assert r.returncode == 0
    assert d["effect"] == "allow" and d["rule"] == "dev" and d["rule_index"] == 0
    for key in (
        "reason",
        "requires_server",
        "requires_session_tracking",
        "session_table",
        "session_table_source",
        "tracking",
        "denial",
        "fix",
        "skipped",
        "mode",
        "profile",
        "user",
        "at",
    ):
        assert key in d


def test_explain_require_server_session_cli_denies_with_fix(run_sentinel, tmp_path: Path) -> None:
    r, d = explain(
        run_sentinel, "--policy", write(tmp_path, POLICY), "--profile", "prod", "--at", MONDAY_NOON
    )
    assert r.returncode == 1
    assert d["effect"] == "deny" and d["rule"] == "prod-tracked" and d["rule_index"] == 1
    assert d["requires_server"] is True and d["requires_session_tracking"] is True
    assert d["denial"] == "not_server"
    assert d["fix"] is None  # no table in the config: no command line can satisfy the rule
    cfg = write(tmp_path, "defaults:\n  session_table: sentinel-sessions\n", "cfg.yaml")
    r, d = explain(
        run_sentinel,
        "--policy",
        write(tmp_path, POLICY),
        "--profile",
        "prod",
        "--at",
        MONDAY_NOON,
        "--config",
        cfg,
    )
    assert d["fix"] == "sentinel exec --server --profile prod -- ..."
    assert d["skipped"] == [{"index": 0, "rule": "dev", "why": "profile prod does not match dev-*"}]
    assert d["reason"] == "Production needs tracked, revocable sessions"


def test_explain_server_mode_table_sources(run_sentinel, tmp_path: Path, clean_env) -> None:
    pol = write(tmp_path, POLICY)
    env = dict(clean_env, SENTINEL_SESSION_TABLE="env-table")
    r, d = explain(
        run_sentinel,
        "--policy",
        pol,
        "--profile",
        "prod",
        "--mode",
        "server",
        "--at",
        MONDAY_NOON,
        env=env,
    )
    # require_server_session without a rule table accepts only the config's table.
    assert r.returncode == 1 and d["denial"] == "untrusted_session_table"
    cfg = write(tmp_path, "defaults:\n  session_table: env-table\n", "cfg.yaml")
    r, d = explain(
        run_sentinel,
        "--policy",
        pol,
        "--profile",
        "prod",
        "--mode",
        "server",
        "--at",
        MONDAY_NOON,
        "--config",
        cfg,
        env=env,
    )
    assert r.returncode == 0
    assert (d["session_table"], d["session_table_source"], d["tracking"]) == (
        "env-table",
        "env SENTINEL_SESSION_TABLE",
        True,
    )
    # The variable counts in server mode only.
    r, d = explain(run_sentinel, "--policy", pol, "--profile", "dev-x", "--mode", "cli", env=env)
    assert d["session_table"] is None
    r, d = explain(
        run_sentinel,
        "--policy",
        pol,
        "--profile",
        "prod",
        "--mode",
        "server",
        "--at",
        MONDAY_NOON,
        "--session-table",
        "flag-table",
        "--no-session-tracking",
        env=env,
    )
    assert r.returncode == 1 and d["denial"] == "tracking_disabled"
    assert d["fix"] is None  # flag-table would not count either: it is not the config's
    r, d = explain(
        run_sentinel, "--policy", pol, "--profile", "prod", "--mode", "server", "--at", MONDAY_NOON
    )
    assert r.returncode == 1 and d["denial"] == "no_session_table"


def test_explain_time_window_and_default_deny(run_sentinel, tmp_path: Path) -> None:
    pol = write(tmp_path, POLICY)
    r, d = explain(
        run_sentinel,
        "--policy",
        pol,
        "--profile",
        "prod",
        "--mode",
        "server",
        "--at",
        "2026-01-26T22:10:00Z",
        "--session-table",
        "sessions",
    )
    assert r.returncode == 1 and d["rule"] == "prod-night" and d["denial"] == "deny"
    assert d["skipped"][1]["why"] == "time Mon 23:10 Europe/Berlin is outside 09:00–18:00"
    assert d["fix"] is None
    r, d = explain(run_sentinel, "--policy", pol, "--profile", "other")
    assert r.returncode == 1 and d["rule"] is None and d["denial"] == "no_match"


def test_explain_human_output(run_sentinel, tmp_path: Path) -> None:
    r = run_sentinel(
        "policy",
        "explain",
        "--policy",
        write(tmp_path, POLICY),
        "--profile",
        "prod",
        "--mode",
        "credential_process",
        "--at",
        MONDAY_NOON,
    )
    assert r.returncode == 1
    assert "skipped:  #1 dev: profile prod does not match dev-*" in r.stdout
    assert "decision: DENY by rule #2 prod-tracked" in r.stdout
    assert "credential_process credentials cannot be tracked" in r.stdout


def test_explain_uses_inline_policy_and_policy_source(run_sentinel, tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / "sentinel.yaml").write_text("defaults:\n  session_table: cfg-table\n" + POLICY)
    r, d = explain(
        run_sentinel, "--profile", "prod", "--mode", "server", "--at", MONDAY_NOON, cwd=cwd
    )
    assert r.returncode == 0
    assert d["policy_source"].endswith("sentinel.yaml")
    assert d["session_table_source"].endswith("sentinel.yaml:2")
    other = write(tmp_path, "policies:\n  - effect: deny\n    reason: frozen\n", "central.yaml")
    (cwd / "sentinel.yaml").write_text(f"policy_source: {other}\n")
    r, d = explain(run_sentinel, "--profile", "prod", cwd=cwd)
    assert r.returncode == 1 and d["reason"] == "frozen" and d["policy_source"] == other


def test_explain_bad_input_is_one_line_exit_2(run_sentinel, tmp_path: Path) -> None:
    pol = write(tmp_path, POLICY)
    for args, needle in [
        (("--policy", pol, "--profile", "p", "--at", "yesterday"), "invalid --at 'yesterday'"),
        (("--profile", "p"), "no policy configured"),
        (("--policy", str(tmp_path / "missing.yaml"), "--profile", "p"), "does not exist"),
        (
            ("--policy", write(tmp_path, "policies: []\n", "e.yaml"), "--profile", "p"),
            "'policies' is empty",
        ),
        (("--policy", pol, "--profile", "p", "--mode", "shell"), "Invalid value for '--mode'"),
    ]:
        r = run_sentinel("policy", "explain", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr, (needle, r.stderr)
        assert "Traceback" not in r.stderr
