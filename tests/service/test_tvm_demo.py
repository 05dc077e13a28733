"""``sentinel demo --service`` as a user runs it: every move fails at the service; locally,
all but the decoy table (pinned to the configured table) still work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
    out = proc.stdout
    table = out.split("  local    service\n", 1)[1].splitlines()[:7]
    rows = [line.rsplit(None, 2) for line in table]  # title, local mode, service
    assert all(service == "FAILS" for _, _, service in rows), out[-3000:]
    assert [title for title, local, _ in rows if local != "WORKS"] == [
        "passes --session-table decoy"
    ]
    # It reads on its own: what the verdicts mean, lines within 100 columns, no error
    # counted as a success, and the flip undoes the revocation of a live session.
    assert "WORKS: the attack reached its aim" in out and "=> UNCLEAR" not in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "a live session:" in out and "(left running: its child holds the session open)" in out
    assert "6 of 7 still work in local mode" in out
    assert "UserBlocked" in proc.stdout and "AccessDenied" in proc.stdout
    assert "demo passed" in proc.stdout and "Traceback" not in proc.stderr
