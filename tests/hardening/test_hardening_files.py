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
