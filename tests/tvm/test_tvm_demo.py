"""``sentinel demo --service`` as a user runs it: every move works locally, fails at the service."""

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
    rows = [
        line
        for line in proc.stdout.splitlines()
        if line.rstrip().endswith("fails") and "works" in line
    ]
    assert len(rows) == 7, proc.stdout[-3000:]
    assert "UserBlocked" in proc.stdout and "AccessDenied" in proc.stdout
    assert "demo passed" in proc.stdout and "Traceback" not in proc.stderr
