"""File-system helpers for files that may hold secrets, and the user's home folder.

Private files are written 0600 and private folders are 0700 whatever the umask: the mode is
set again with ``chmod`` after creation, because ``open``/``mkdir`` modes are masked by it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """``HOME`` from ``env`` (default: the process environment), else the account's home."""
    env = os.environ if env is None else env
    return Path(env.get("HOME") or os.path.expanduser("~"))


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) if needed; ``path`` itself ends up mode 0700."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def atomic_write(path: str | os.PathLike[str], text: str, *, mode: int = 0o600) -> None:
    """Write ``text`` to a temporary file next to ``path`` and rename it over ``path``.

    Readers see the old content or the new one, never a partial file. The file is created
    with ``mode`` (0600 by default) and re-``chmod``-ed, so the umask cannot widen it.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
