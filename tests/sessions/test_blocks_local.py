"""Local mode reads the block before it starts a server session (cooperative).

The credential service's own enforcement is tested with the service.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from subprocess import CompletedProcess

Run = Callable[..., CompletedProcess[str]]
CHILD = [sys.executable, "-c", "print('child ran')"]


def test_a_blocked_user_cannot_start_a_server_session(run_sentinel: Run) -> None:
    # The sandbox user behind every profile is alice; the sandbox table is the default one.
    blocked = run_sentinel(
        [
            "server-revoke",
            "--user",
            "alice",
            "--block",
            "--for",
            "1h",
            "--reason",
            "account compromised",
        ]
    )
    assert blocked.returncode == 0, blocked.stderr
    try:
        refused = run_sentinel(["exec", "--server", "--profile", "prod", "--", *CHILD])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "child ran" not in refused.stdout
        error = refused.stderr.strip().splitlines()[-1]
        assert error.startswith("sentinel: error: user alice is blocked until ")
        assert "account compromised" in error
        assert "sentinel server-unblock --user alice" in error
    finally:
        lifted = run_sentinel(["server-unblock", "--user", "alice"])
        assert lifted.returncode == 0, lifted.stderr
    allowed = run_sentinel(["exec", "--server", "--profile", "prod", "--", *CHILD])
    assert allowed.returncode == 0, allowed.stderr
    assert "child ran" in allowed.stdout
