"""Config files: precedence key by key, sources, and errors that name file and line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sentinelgw.config import load_config
from sentinelgw.errors import ConfigError
from sentinelgw.session_table import resolve_session_table


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_later_files_override_key_by_key(tmp_path: Path) -> None:
    home, proj = tmp_path / "home", tmp_path / "proj"
    write(
        home / ".sentinel/config.yaml", "defaults:\n  session_table: user-t\n  region: eu-west-1\n"
    )
    write(proj / "sentinel.yaml", "defaults:\n  session_table: proj-t\n")
    explicit = write(tmp_path / "x.yaml", "defaults:\n  retention_days: 30\n")
    cfg = load_config(str(explicit), {"HOME": str(home)}, proj)
    assert cfg.default("session_table") == "proj-t"
    assert cfg.default("region") == "eu-west-1"
    assert cfg.default("retention_days") == 30
    assert cfg.defaults["session_table"].source == f"{proj / 'sentinel.yaml'}:2"
    assert cfg.defaults["region"].source.endswith("config.yaml:3")


def test_sentinel_config_env_is_used_and_flag_replaces_it(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "defaults:\n  region: us-west-2\n")
    b = write(tmp_path / "b.yaml", "defaults:\n  region: ap-south-1\n")
    env = {"HOME": str(tmp_path / "h"), "SENTINEL_CONFIG": str(a)}
    assert load_config(None, env, tmp_path).default("region") == "us-west-2"
    assert load_config(str(b), env, tmp_path).default("region") == "ap-south-1"


def test_only_the_user_config_chooses_the_credential_service(tmp_path: Path) -> None:
    home, proj = tmp_path / "home", tmp_path / "proj"
    write(home / ".sentinel/config.yaml", "defaults:\n  remote: https://tvm.example\n")
    project = write(
        proj / "sentinel.yaml",
        "defaults:\n  remote: http://127.0.0.1:9\n  remote_service_id: https://tvm.example\n",
    )
    explicit = write(tmp_path / "x.yaml", "defaults:\n  remote_service_id: other\n")
    cfg = load_config(str(explicit), {"HOME": str(home)}, proj)
    assert cfg.default("remote") == "https://tvm.example"
    assert cfg.default("remote_service_id") is None
    assert cfg.ignored_remote == [f"{project}:2", f"{project}:3", f"{explicit}:2"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("defaults:\n  sesion_table: x\n", ":2: unknown key defaults.sesion_table"),
        ("defualts: {}\n", ":1: unknown key 'defualts'"),
        ("defaults:\n  retention_days: soon\n", ":2: defaults.retention_days must be"),
        ("defaults: [1]\n", "'defaults' must be a mapping"),
        ("defaults:\n  region: [\n", "invalid YAML"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    f = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(str(f), {"HOME": str(tmp_path)}, tmp_path)
    assert needle in str(info.value)
    assert str(f) in str(info.value)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"), {"HOME": str(tmp_path)}, tmp_path)


def test_session_table_precedence(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yaml", "defaults:\n  session_table: from-config\n")
    cfg = load_config(str(f), {"HOME": str(tmp_path)}, tmp_path)
    env = {"SENTINEL_SESSION_TABLE": "from-env"}
    assert resolve_session_table("flag", env, cfg, server_mode=True) == ("flag", "--session-table")
    assert resolve_session_table(None, env, cfg, server_mode=True) == (
        "from-env",
        "env SENTINEL_SESSION_TABLE",
    )
    # The variable counts in server mode only.
    table, source = resolve_session_table(None, env, cfg, server_mode=False)
    assert table == "from-config" and source is not None and source.endswith("c.yaml:2")
    empty = load_config(None, {"HOME": str(tmp_path / "none")}, tmp_path / "none")
    assert resolve_session_table(None, {}, empty, server_mode=True) == (None, None)


def test_config_show_names_every_source(
    tmp_path: Path, sentinel_cmd: list[str], base_env: dict[str, str]
) -> None:
    f = write(tmp_path / "c.yaml", "defaults:\n  session_table: t1\n  region: eu-central-1\n")
    env = {**base_env, "SENTINEL_CONFIG": str(f), "SENTINEL_SESSION_TABLE": "t-env"}
    out = subprocess.run(
        [*sentinel_cmd, "config", "show", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["session_table"]["value"] == "t-env"
    assert data["session_table"]["source"] == "env SENTINEL_SESSION_TABLE"
    assert data["region"] == {"value": "eu-central-1", "source": f"{f}:3"}
    human = subprocess.run(
        [*sentinel_cmd, "config", "show", "--session-table", "t-flag"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "t-flag" in human.stdout and "(--session-table)" in human.stdout


def test_config_show_bad_file_is_one_line_exit_2(
    tmp_path: Path, sentinel_cmd: list[str], base_env: dict[str, str]
) -> None:
    f = write(tmp_path / "c.yaml", "defaults:\n  nope: 1\n")
    out = subprocess.run(
        [*sentinel_cmd, "--config", str(f), "config", "show"],
        env=base_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert f"{f}:2" in out.stderr


def test_parse_cache_follows_edits_and_never_hides_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = write(tmp_path / "c.yaml", "defaults:\n  region: eu-west-1\n")
    env = {"HOME": str(home)}
    assert load_config(str(f), env, tmp_path).default("region") == "eu-west-1"
    cached = list((home / ".sentinel" / "cache" / "config").glob("yaml-*.json"))
    assert len(cached) == 1
    assert (cached[0].stat().st_mode & 0o777) == 0o600
    # served from the cache: same values and the same file:line sources
    again = load_config(str(f), env, tmp_path)
    assert again.defaults["region"].source == f"{f}:2"
    f.write_text("defaults:\n  region: ap-south-1\n  session_table: t\n")
    assert load_config(str(f), env, tmp_path).default("region") == "ap-south-1"
    f.write_text("defaults:\n  regoin: x\n")
    with pytest.raises(ConfigError, match="regoin"):
        load_config(str(f), env, tmp_path)
    with pytest.raises(ConfigError, match="regoin"):
        load_config(str(f), env, tmp_path)


def test_corrupt_parse_cache_is_ignored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = write(tmp_path / "c.yaml", "defaults:\n  region: eu-west-1\n")
    env = {"HOME": str(home)}
    load_config(str(f), env, tmp_path)
    for cached in (home / ".sentinel" / "cache" / "config").glob("yaml-*.json"):
        cached.write_text("{not json")
    assert load_config(str(f), env, tmp_path).default("region") == "eu-west-1"


def test_security_profile_is_a_profile_name(tmp_path: Path) -> None:
    ok = write(tmp_path / "ok.yaml", "defaults:\n  security_profile: security\n")
    cfg = load_config(str(ok), {"HOME": str(tmp_path)}, tmp_path)
    assert cfg.default("security_profile") == "security"
    bad = write(tmp_path / "bad.yaml", 'defaults:\n  security_profile: "x; rm -rf ~"\n')
    with pytest.raises(ConfigError, match="security_profile must be an AWS profile name"):
        load_config(str(bad), {"HOME": str(tmp_path)}, tmp_path)
