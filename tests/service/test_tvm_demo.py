"""``sentinel demo --service`` as a user runs it: every move fails at the service; locally,
all but the decoy table (pinned to the configured table), the proof redirect (local mode sends
no proof) and the block escape still work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


# Two sandboxes and nine moves, each a few `sentinel` and `aws` processes: about two minutes.
@pytest.mark.slow
def test_demo_service_shows_each_move_beside_local_mode(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(tmp_path / "home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "sentinel"),
            "demo",
            "--service",
            "--dir",
            str(tmp_path / "demo"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    table = proc.stdout.split("local mode  service\n", 1)[1].splitlines()[:9]
    rows = [line.rsplit(None, 2) for line in table]  # title, local mode, service
    assert all(service == "fails" for _, _, service in rows), proc.stdout[-3000:]
    # Local mode sends no proof anywhere, so there is nothing to redirect there; and its own
    # block check (in the user's process) names the user behind the role session.
    assert [title for title, local, _ in rows if local == "fails"] == [
        "passes --session-table decoy",
        "commits a sentinel.yaml that sends a colleague's proof to a look-alike",
        "comes back after a block as a role session (sentinel-dev/alice2)",
    ]
    assert "6 of 9 still work in local mode" in proc.stdout
    assert "UserBlocked" in proc.stdout and "AccessDenied" in proc.stdout
    assert "CallerKindNotAllowed" in proc.stdout and "ignored defaults.remote" in proc.stdout
    assert "demo passed" in proc.stdout and "Traceback" not in proc.stderr
