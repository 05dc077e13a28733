"""Sentinel's own files stay private whatever the umask, and it never writes through a file
another local user planted.

The attacks: under ``umask 000`` ``~/.sentinel`` was created 0777, so another user could plant
a ``config.yaml`` with ``policy_source:``; ``--log-file`` opened an existing file or symlink,
including one created by another user.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import sentinel_command

OTHER_UID = 65534
PY = sys.executable


def run_umask(
    args: list[str], env: dict[str, str], umask: int = 0
) -> subprocess.CompletedProcess[str]:
    """The installed ``sentinel`` with ``umask`` set in the child before it starts."""

    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run(
        [*sentinel_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=set_umask,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def exec_with_log(env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *sentinel_command(),
            "exec",
            "--profile",
            "dev",
            "--log-file",
            str(log),
            "--",
            PY,
            "-c",
            "print('child ran')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_umask_000_still_creates_private_dirs(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    home = Path(sandbox_env["HOME"])
    assert not (home / ".sentinel").exists()
    config = tmp_path / "sentinel.yaml"
    config.write_text("policies:\n  - effect: allow\n")
    proc = run_umask(
        ["policy", "explain", "--config", str(config), "--profile", "p", "--format", "json"],
        sandbox_env,
    )
    assert proc.returncode == 0, proc.stderr
    folders = [
        home / ".sentinel",
        home / ".sentinel" / "cache",
        home / ".sentinel" / "cache" / "config",
    ]
    assert {str(f): mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    entries = list(folders[-1].iterdir())
    assert entries and all(mode(e) == 0o600 for e in entries)


def test_umask_000_log_file_is_created_0600(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    proc = run_umask(
        ["exec", "--profile", "dev", "--log-file", str(log), "--", PY, "-c", "print('ok')"],
        sandbox_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert mode(log) == 0o600
    assert [json.loads(line)["event"] for line in log.read_text().splitlines()] == ["decision"]


def test_log_file_symlink_is_refused(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    link = tmp_path / "decisions.log"
    link.symlink_to(target)
    proc = exec_with_log(sandbox_env, link)
    assert proc.returncode == 2 and "child ran" not in proc.stdout
    assert "symbolic link" in proc.stderr and proc.stderr.count("\n") == 1
    assert target.read_text() == "keep me\n"


def test_dangling_log_file_symlink_is_refused(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    link = tmp_path / "decisions.log"
    link.symlink_to(tmp_path / "created-through-the-link.log")
    proc = exec_with_log(sandbox_env, link)
    assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "created-through-the-link.log").exists()


def test_log_file_writable_by_others_is_refused(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.log"
    log.write_text("")
    os.chmod(log, 0o666)
    proc = exec_with_log(sandbox_env, log)
    assert proc.returncode == 2 and "writable by other users" in proc.stderr
    assert log.read_text() == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_log_file_owned_by_another_user_is_refused(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.log"
    log.write_text("")
    os.chown(log, OTHER_UID, OTHER_UID)
    os.chmod(log, 0o600)
    proc = exec_with_log(sandbox_env, log)
    assert proc.returncode == 2 and "owned by another user" in proc.stderr
    assert log.read_text() == ""


def test_log_file_fifo_is_refused_without_blocking(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "decisions.log"
    os.mkfifo(fifo, 0o600)
    proc = exec_with_log(sandbox_env, fifo)  # would hang on a blocking open with no reader
    assert proc.returncode == 2 and "cannot open log file" in proc.stderr


def test_own_private_log_file_is_appended(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    log.write_text('{"earlier": true}\n')
    os.chmod(log, 0o600)
    proc = exec_with_log(sandbox_env, log)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == '{"earlier": true}' and json.loads(lines[1])["allowed"] is True


# -- the credentials cache --------------------------------------------------------------------


def _cached(home: Path) -> tuple[dict[str, str], str, Path]:
    from datetime import UTC, datetime, timedelta

    from sentinelgw.credentials import cache
    from sentinelgw.credentials.model import AwsCredentials

    env = {"HOME": str(home)}
    key = cache.cache_key(env, "prod", None, "us-east-1")
    creds = AwsCredentials(
        "ASIAPLANTED", "planted-secret", "planted-token", datetime.now(UTC) + timedelta(hours=1)
    )
    cache.store(env, key, creds, {"user": "alice"})
    (entry,) = cache.cache_root(env).glob("*.json")
    return env, key, entry


def _load(env: dict[str, str], key: str) -> object:
    from datetime import UTC, datetime

    from sentinelgw.credentials import cache

    return cache.load(env, key, datetime.now(UTC))


def test_credentials_cache_entry_of_our_own_is_served(tmp_path: Path) -> None:
    env, key, entry = _cached(tmp_path)
    assert mode(entry) == 0o600 and mode(entry.parent) == 0o700
    loaded = _load(env, key)
    assert isinstance(loaded, dict) and loaded["AccessKeyId"] == "ASIAPLANTED"


def test_credentials_cache_entry_writable_by_others_is_ignored(tmp_path: Path) -> None:
    env, key, entry = _cached(tmp_path)
    os.chmod(entry, 0o666)
    assert _load(env, key) is None


def test_credentials_cache_in_a_world_writable_folder_is_ignored(tmp_path: Path) -> None:
    env, key, entry = _cached(tmp_path)
    os.chmod(entry.parent, 0o777)
    assert _load(env, key) is None


def test_credentials_cache_entry_that_is_a_symlink_is_ignored(tmp_path: Path) -> None:
    env, key, entry = _cached(tmp_path)
    planted = tmp_path / "planted.json"
    entry.rename(planted)
    entry.symlink_to(planted)
    assert _load(env, key) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_credentials_cache_entry_planted_by_another_user_is_ignored(tmp_path: Path) -> None:
    env, key, entry = _cached(tmp_path)
    os.chown(entry, OTHER_UID, OTHER_UID)
    assert _load(env, key) is None
