"""The server work folder: the child's token file and AWS config, private to this session.

Each ``sentinel exec --server`` makes one folder ``$TMPDIR/sentinel-server-XXXX`` (0700) holding
``token`` and ``config`` (0600) and ``pid``, the server's process id. It is removed when the
session ends. A server killed with SIGKILL cannot remove it, so every new server first removes
the folders left behind: those named like ours, owned by the current user, not symbolic links,
whose ``pid`` names no running process. A folder whose process still runs (or that another
user owns) is never touched.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from sentinelgw.fsutil import atomic_write

PREFIX = "sentinel-server-"
PID_FILE = "pid"


def create_workdir() -> Path:
    """A new private work folder (0700) with this process's id in it."""
    remove_stale_workdirs()
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(folder, 0o700)

    atomic_write(folder / PID_FILE, str(os.getpid()))
    return folder


def remove_workdir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_stale_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work folders of servers that are no longer running; returns them."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        folder = Path(entry.path)
        if _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _is_stale(folder: Path) -> bool:
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        return False
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid > 0 and pid != os.getpid() and not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user has that id now
    return True
