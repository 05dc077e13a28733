"""Policy source precedence: a central source cannot be replaced from the user's working tree.

The attacks: a project ``sentinel.yaml`` (found by walking up from the working directory) with
its own ``policy_source`` or an allow-everything inline policy, and ``--policy allow.yaml``,
each used to replace the central policy the system or user config pins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from tests.conftest import sentinel_command

from sentinelgw.config import load_config
from sentinelgw.errors import ConfigError

Run = Callable[..., CompletedProcess[str]]
OTHER_UID = 65534

DENY = "policies:\n  - name: central-deny\n    effect: deny\n    reason: central\n"
ALLOW = "policies:\n  - name: project-allow\n    effect: allow\n"


@pytest.fixture
def env(sandbox_env: dict[str, str]) -> dict[str, str]:
    """The sandbox environment without its SENTINEL_CONFIG: only the files under test count."""
    return {k: v for k, v in sandbox_env.items() if k != "SENTINEL_CONFIG"}


@pytest.fixture
def tree(tmp_path: Path, sandbox_env: dict[str, str]) -> dict[str, Path]:
    """A central deny policy pinned by the user config, a permissive project two levels up."""
    home = Path(sandbox_env["HOME"])
    central = tmp_path / "central.yaml"
    central.write_text(DENY)
    allow = tmp_path / "allow.yaml"
    allow.write_text(ALLOW)
    (home / ".sentinel").mkdir(mode=0o700, exist_ok=True)
    (home / ".sentinel" / "config.yaml").write_text(f"policy_source: {central}\n")
    project = tmp_path / "repo"
    work = project / "src" / "deep"
    work.mkdir(parents=True)
    return {"home": home, "central": central, "allow": allow, "project": project, "work": work}


def explain(env: dict[str, str], cwd: Path, *args: str) -> CompletedProcess[str]:
    import subprocess

    return subprocess.run(
        [
            *sentinel_command(),
            "policy",
            "explain",
            "--profile",
            "prod",
            "--user",
            "alice",
            "--format",
            "json",
            *args,
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def source_of(proc: CompletedProcess[str]) -> str:
    assert proc.returncode in (0, 1), proc.stderr
    return str(json.loads(proc.stdout)["policy_source"])


def test_project_policy_source_cannot_override_a_central_one(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    (tree["project"] / "sentinel.yaml").write_text(f"policy_source: {tree['allow']}\n")
    proc = explain(env, tree["work"])
    assert proc.returncode == 1 and source_of(proc) == str(tree["central"])


def test_project_inline_policy_cannot_override_a_central_source(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    (tree["project"] / "sentinel.yaml").write_text(ALLOW)
    proc = explain(env, tree["work"])
    assert proc.returncode == 1 and source_of(proc) == str(tree["central"])


def test_ignored_project_settings_are_shown_by_config_show(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    import subprocess

    (tree["project"] / "sentinel.yaml").write_text(f"policy_source: {tree['allow']}\n")
    proc = subprocess.run(
        [*sentinel_command(), "config", "show", "--format", "json"],
        env=env,
        cwd=tree["work"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["policy_source"]["value"] == str(tree["central"])
    assert any("ignored" in note and "pinned" in note for note in shown["ignored"]["value"])


def test_project_inline_rules_apply_where_no_central_source_is_set(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    (tree["home"] / ".sentinel" / "config.yaml").write_text("defaults: {region: us-east-1}\n")
    (tree["project"] / "sentinel.yaml").write_text(ALLOW)
    proc = explain(env, tree["work"])  # found by walking up two folders
    assert proc.returncode == 0 and source_of(proc).endswith("repo/sentinel.yaml")


def test_policy_flag_is_refused_when_a_central_source_is_pinned(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    proc = explain(env, tree["work"], "--policy", str(tree["allow"]))
    assert proc.returncode == 2
    assert str(tree["central"]) in proc.stderr and "--debug-policy" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_debug_policy_overrides_and_is_logged(
    tree: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.log"
    proc = explain(
        env,
        tree["work"],
        "--policy",
        str(tree["allow"]),
        "--debug-policy",
        "--log-file",
        str(log),
    )
    assert proc.returncode == 0 and source_of(proc) == str(tree["allow"])
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["debug_policy"]
    assert str(tree["allow"]) in events[0]["reason"] and str(tree["central"]) in events[0]["reason"]


def test_debug_policy_without_a_log_warns_on_stderr(
    tree: dict[str, Path], env: dict[str, str]
) -> None:
    proc = explain(env, tree["work"], "--policy", str(tree["allow"]), "--debug-policy")
    assert proc.returncode == 0 and "--debug-policy" in proc.stderr


def test_system_config_pin_beats_user_project_and_explicit_files(tmp_path: Path) -> None:
    system = tmp_path / "etc.yaml"
    system.write_text("policy_source: ssm:/central/prod\n")
    home = tmp_path / "home"
    (home / ".sentinel").mkdir(parents=True)
    (home / ".sentinel" / "config.yaml").write_text("policy_source: ssm:/user/own\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("policy_source: ssm:/explicit/allow\n" + ALLOW)
    (tmp_path / "sentinel.yaml").write_text("policy_source: ssm:/project/allow\n")
    cfg = load_config(str(explicit), {"HOME": str(home)}, tmp_path, system=system)
    # The user config is central too: it may choose its own source over the system's.
    assert cfg.policy_source is not None and cfg.policy_source.value == "ssm:/user/own"
    assert cfg.policy_pinned and cfg.inline_policy is None
    assert len(cfg.notes) == 3  # project source, explicit source, explicit inline policy


def test_project_config_planted_by_another_user_is_not_read(tmp_path: Path) -> None:
    planted = tmp_path / "sentinel.yaml"
    planted.write_text(ALLOW)
    os.chmod(planted, 0o666)
    work = tmp_path / "work"
    work.mkdir()
    cfg = load_config(None, {"HOME": str(tmp_path / "home")}, work, system=None)
    assert cfg.inline_policy is None and "writable by every user" in cfg.notes[0]


def test_user_config_writable_by_others_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".sentinel").mkdir(parents=True)
    config = home / ".sentinel" / "config.yaml"
    config.write_text("policy_source: ssm:/planted\n")
    os.chmod(config, 0o666)
    with pytest.raises(ConfigError, match="writable by every user"):
        load_config(None, {"HOME": str(home)}, tmp_path, system=None)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_user_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".sentinel").mkdir(parents=True)
    config = home / ".sentinel" / "config.yaml"
    config.write_text("policy_source: ssm:/planted\n")
    os.chown(config, OTHER_UID, OTHER_UID)
    with pytest.raises(ConfigError, match="owned by another user"):
        load_config(None, {"HOME": str(home)}, tmp_path, system=None)
