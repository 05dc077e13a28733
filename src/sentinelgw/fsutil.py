"""File-system helpers for files that may hold secrets, and the user's home folder.

Private files are written 0600 and private folders are 0700 whatever the umask: the mode is
set again with ``chmod`` after creation, because ``open``/``mkdir`` modes are masked by it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """``HOME`` from ``env`` (default: the process environment), else the account's home."""
    env = os.environ if env is None else env
    return Path(env.get("HOME") or os.path.expanduser("~"))


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its missing parents) if needed, each created folder mode 0700.

    ``mkdir``'s mode is masked by the umask and ``Path.mkdir(parents=True)`` gives parents the
    default mode, so under ``umask 000`` ``~/.sentinel`` would be 0777 and another local user
    could plant files in it. Every folder created here is ``chmod``-ed to 0700, and ``path``
    itself is set to 0700 even if it existed.
    """
    folder = Path(path)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            pass  # created concurrently; the chmod below still applies
        os.chmod(candidate, 0o700)
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


def _check_private(st: os.stat_result, path: str | os.PathLike[str], *, what: str) -> None:
    """Refuse a file or folder owned by another user, or writable by group or others."""
    if st.st_uid != os.geteuid():
        raise PermissionError(f"{what} {path} is owned by another user (uid {st.st_uid})")
    if st.st_mode & 0o022:
        raise PermissionError(
            f"{what} {path} is writable by other users (mode {st.st_mode & 0o777:o})"
        )


def read_private(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of a file only its owner can change, or None if it does not exist.

    The file is opened with ``O_NOFOLLOW`` (a symlink is refused) and must be a regular file
    owned by the current user, not writable by group or others, in a folder that is also ours
    and not writable by others. Raises PermissionError otherwise.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        _check_private(os.stat(folder), folder, what="folder")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{path} is not a regular file")
        _check_private(st, path, what="file")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


def open_append_private(path: str | os.PathLike[str]) -> int:
    """A file descriptor appending to ``path``, created 0600 if it does not exist.

    Opened with ``O_NOFOLLOW``, so a symlink planted at ``path`` is refused, and the file must
    be a regular file owned by the current user and not writable by group or others. Raises
    PermissionError (or another OSError) otherwise.
    """
    # O_NONBLOCK: a FIFO planted at the path must not block the open; it is refused below.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionError(f"{path} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{path} is not a regular file")
        _check_private(st, path, what="file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
