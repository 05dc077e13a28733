"""Starting the user's command: signals that arrive while it starts still reach it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

from sentinelgw.exec import process


def test_a_signal_while_the_child_starts_is_forwarded_once_it_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The signal lands after the handlers are in place and before Popen returns: the gap in
    # which a SIGINT used to leave the child running.
    real_start = process._start

    def start_after_a_signal(
        argv: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        os.kill(os.getpid(), signal.SIGUSR1)
        return real_start(argv, env)

    monkeypatch.setattr(process, "_start", start_after_a_signal)
    before = signal.getsignal(signal.SIGUSR1)
    code = process.run_child([sys.executable, "-c", "import time; time.sleep(30)"], os.environ)
    assert code == 128 + signal.SIGUSR1  # the child got it (its default action ends it)
    assert signal.getsignal(signal.SIGUSR1) == before  # our handler is gone again


def test_the_childs_exit_status_is_returned() -> None:
    code = process.run_child([sys.executable, "-c", "raise SystemExit(7)"], os.environ)
    assert code == 7


def test_a_missing_command_is_a_usage_error_naming_it() -> None:
    from sentinelgw.errors import UsageError

    with pytest.raises(UsageError, match="command not found: no-such-command-here"):
        process.run_child(["no-such-command-here"], os.environ)
