"""Running the user's command: no shell, signals forwarded, the child's exit status returned."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence

from sentinelgw.errors import UsageError

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


def command_or_shell(cmd: Sequence[str], env: Mapping[str, str]) -> list[str]:
    if cmd:
        return list(cmd)
    return [env.get("SHELL") or "/bin/sh"]


def run_child(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Start ``argv`` (never through a shell), forward signals, return its exit status.

    The forwarding handlers are in place before the child starts: a signal that arrives while
    it is being started is held and sent to it as soon as it exists (a SIGINT in that gap used
    to leave the child running). A child killed by signal N yields 128 + N, as a shell reports
    it.
    """
    started: list[subprocess.Popen[bytes]] = []
    held: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not started:
            held.append(signum)
            return
        try:
            started[0].send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {}
    for sig in FORWARDED:
        try:
            previous[sig] = signal.signal(sig, forward)
        except (ValueError, OSError):  # not the main thread, or not supported
            pass
    try:
        started.append(_start(argv, env))
        for signum in held:
            forward(signum, None)
        while True:
            try:
                code = started[0].wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - SIGINT is forwarded instead
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _start(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(argv), env=dict(env))
    except FileNotFoundError:
        raise UsageError(
            f"command not found: {argv[0]}", hint="Check the command after --, or its PATH"
        ) from None
    except PermissionError:
        raise UsageError(f"command is not executable: {argv[0]}") from None


def refuse_nested(env: Mapping[str, str]) -> None:
    current = env.get("AWS_SENTINEL")
    if current:
        raise UsageError(
            f"already inside 'sentinel exec' for profile {current!r}",
            hint="Exit that shell first; nesting would mix two profiles' credentials",
        )
