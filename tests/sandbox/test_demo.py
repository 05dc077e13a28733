"""``sentinel demo`` end to end: the seven-step walkthrough passes on a fresh sandbox, then
every uncooperative move fails against the credential service (``demo --service`` alone is
run by tests/service/test_tvm_demo.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_passes_both_parts(tmp_path):
    script = Path(sys.executable).parent / "sentinel"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sentinelgw.cli.main"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(tmp_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(
        [*cmd, "demo"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    for n in range(1, 8):
        assert f"[step {n}/7] PASS" in out
    assert not re.search(r"\bFAIL\b", out) and "demo FAILED" not in out
    assert "[step 7/7] PASS" in out.split("Part 2:")[0]
    assert "demo passed: every move fails against the service" in out
    # It reads right: the fix whole, the end reason of a clean exit, nothing cut with "…".
    words = " ".join(out.split())  # lines are wrapped at 100 columns, between words
    assert "Run: sentinel exec --server --profile prod -- ..." in words
    assert "it ended normally (the command exited with status 0" in words
    assert "prod-sso" not in out.split("== step 7/7")[1].split("Part 2:")[0]  # nobody used it
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "…" not in out
