"""Benchmark: from ``sentinel server-revoke`` to the first AccessDenied of a child that holds
credentials, on the sandbox.

Usage::

    python benchmarks/hard_revocation_bench.py [--repeats 5]

Each repeat starts two ``sentinel exec --server --server-duration 1h --profile prod`` sessions
whose children build one boto3 S3 client (credentials fetched once and held; with a one-hour
lifetime botocore does not ask the server again) and call ListBuckets every 20 ms, logging
``time.monotonic()`` (system-wide on Linux) of their first AccessDenied. The bench then runs

- ``sentinel server-revoke ID --reason bench`` on the first session (hard: record + IAM), and
- ``sentinel server-revoke ID --reason bench --soft`` on the second (record only), the
  baseline for the command's own cost,

and reports for the hard revoke the time from the command's start and from its return to the
child's first AccessDenied (negative when the deny applied before the command returned: the
command waits to verify its write), and for the soft one that its child was never denied
within ``--watch`` seconds. The sandbox applies a policy at once; on AWS add IAM's propagation,
which AWS documents as seconds to a few minutes. No credential is logged.
"""

from __future__ import annotations

import argparse
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Bench,
    describe,
    machine,
    median,
    print_summary,
    print_table,
    ratio,
    sandbox,
    sentinel_bin,
)

# The child: print the session id, hold one client, report the first AccessDenied (bounded).
# One boto3 S3 client holding its credentials, calling ListBuckets every 20 ms until denied
# ("DENIED <code> <monotonic time>") or the watch time is over (sentinelgw.sandbox.held_child).
CHILD = ["-m", "sentinelgw.sandbox.held_child", "loop"]
POLL_S = "0.02"


class HeldChild:
    """One server session whose child holds its credentials and watches for a denial."""

    def __init__(self, bench: Bench, watch: float) -> None:
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sentinel_bin(),
                "exec",
                "--server",
                "--server-duration",
                "1h",
                "--profile",
                "prod",
                "--",
                sys.executable,
                *CHILD,
                str(watch),
                POLL_S,
            ],
            env=bench.env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        first = self._line(60).split()
        if first[:1] != ["SESSION"] or self._line(60) != "OK":
            self.stop()
            raise SystemExit(f"the server session did not start: {self._stderr()[-400:]}")
        self.session_id = first[1]

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else ""

    def outcome(self, timeout: float) -> tuple[str, float | None]:
        """('AccessDenied', monotonic time) or ('TIMEOUT', None) once the child has reported."""
        parts = self._line(timeout).split()
        if parts[:1] == ["DENIED"] and len(parts) == 3:
            return parts[1], float(parts[2])
        return (parts[0] if parts else "no answer"), None

    def _stderr(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def one_repeat(bench: Bench, watch: float) -> dict[str, Any]:
    hard = HeldChild(bench, watch)
    soft = HeldChild(bench, watch)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        rev = bench.run_sentinel("server-revoke", hard.session_id, "--reason", "bench")
        returned = time.monotonic()
        soft_started = time.monotonic()
        soft_rev = bench.run_sentinel(
            "server-revoke", soft.session_id, "--reason", "bench", "--soft"
        )
        soft_cmd = time.monotonic() - soft_started
        code, denied_at = hard.outcome(watch + 10)
        soft_code, _ = soft.outcome(watch + 10)
    finally:
        hard.stop()
        soft.stop()
    if rev.returncode != 0 or soft_rev.returncode != 0:
        raise SystemExit(f"server-revoke failed: {rev.stderr.strip()} {soft_rev.stderr.strip()}")
    return {
        "session": hard.session_id,
        "hard_cmd_s": round(returned - started, 3),
        "soft_cmd_s": round(soft_cmd, 3),
        "denial_code": code,
        "denied_after_start_s": round(denied_at - started, 3) if denied_at else None,
        "denied_after_return_s": round(denied_at - returned, 3) if denied_at else None,
        "soft_child": soft_code,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--watch", type=float, default=15.0, help="seconds each child watches for a denial"
    )
    args = ap.parse_args()
    if not (1 <= args.repeats <= 20 and 5 <= args.watch <= 120):
        raise SystemExit("use 1-20 repeats and a watch of 5-120 s")
    mach = machine()
    results = []
    with sandbox() as bench:
        for n in range(args.repeats):
            res = one_repeat(bench, args.watch)
            results.append(res)
            print(
                f"repeat {n + 1}: denied {res['denied_after_return_s']} s after the revoke "
                "returned",
                file=sys.stderr,
            )
    rows = [
        (
            n + 1,
            r["hard_cmd_s"],
            r["soft_cmd_s"],
            r["denied_after_start_s"],
            r["denied_after_return_s"],
            r["denial_code"],
            r["soft_child"],
        )
        for n, r in enumerate(results)
    ]
    after_start = [r["denied_after_start_s"] for r in results if r["denied_after_start_s"]]
    after_return = [
        r["denied_after_return_s"] for r in results if r["denied_after_return_s"] is not None
    ]
    never = sum(1 for r in results if r["denied_after_start_s"] is None)
    soft_denied = sum(1 for r in results if r["soft_child"] != "TIMEOUT")
    hard_cmd = median([r["hard_cmd_s"] for r in results])
    soft_cmd = median([r["soft_cmd_s"] for r in results])
    print(
        f"{describe(mach)}; sandbox (the deny applies at once; AWS documents seconds to a few "
        "minutes)"
    )
    print_table(
        [
            "repeat",
            "hard cmd s",
            "soft cmd s",
            "denied after start s",
            "denied after return s",
            "code",
            "soft child",
        ],
        rows,
    )
    print(
        f"first AccessDenied after the revoke returned: median {median(after_return):.3f} s, "
        f"max {max(after_return, default=float('nan')):.3f} s; after it started: median "
        f"{median(after_start):.3f} s; never denied: {never}; soft children denied: "
        f"{soft_denied} (expected 0)"
    )
    print(
        f"hard revoke command {hard_cmd:.3f} s vs soft {soft_cmd:.3f} s: "
        f"{ratio(hard_cmd, soft_cmd)}x"
    )
    print_summary(
        {
            "benchmark": "hard_revocation",
            **mach,
            "repeats": results,
            "denied_after_return_median_s": round(median(after_return), 3)
            if after_return
            else None,
            "denied_after_return_max_s": max(after_return) if after_return else None,
            "denied_after_start_median_s": round(median(after_start), 3) if after_start else None,
            "never_denied": never,
            "soft_children_denied": soft_denied,
            "hard_cmd_median_s": hard_cmd,
            "soft_cmd_median_s": soft_cmd,
            "hard_vs_soft_cmd": ratio(hard_cmd, soft_cmd),
        }
    )


if __name__ == "__main__":
    main()
