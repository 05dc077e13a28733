"""Benchmark: CPU seconds of one ``sentinel exec`` (each mode) and one ``sentinel credentials``.

Usage::

    python benchmarks/exec_bench.py [--runs 9] [--no-remote]

What a short command costs is mostly start-up: the interpreter, imports, botocore's service
models, the AWS calls, threads and their teardown. On a shared machine CPU time (user + sys
of the command and every process it waited for, from ``getrusage(RUSAGE_CHILDREN)``) is far
steadier than wall time, so that is what is compared. Each run is a new process with a new
``HOME`` (no credentials cache, no YAML cache: the cold path every test and a user's first
command takes). Cases, alternated run by run with the baseline:

- ``credentials``: ``sentinel credentials --profile dev`` (GetCallerIdentity, policy,
  AssumeRole with a SourceIdentity, credential_process JSON);
- ``exec``: ``sentinel exec --profile dev -- python -c pass`` (the same, then the child);
- ``exec --server``: ``sentinel exec --server --profile prod -- python -c pass`` (session
  record in DynamoDB, revocation poller, request counter, refresher, loopback credential
  server, the child, the final flush and the record marked expired);
- ``exec --remote`` (unless ``--no-remote``): ``sentinel exec --profile prod -- python -c
  pass`` against the credential service of ``sentinel dev`` (signed proof, session started
  and ended by the service, local forwarding server, the child).

Baseline: a minimal boto3 script doing GetCallerIdentity + AssumeRole (as
``credentials_bench.py``) and then running the same child; for ``exec --remote``, whose
caller may not assume the role, one GetCallerIdentity with the caller's keys and then the
child. Targets (medians): credentials and ``exec`` <= 1.3x, ``exec --server`` <= 1.5x,
``exec --remote`` <= 1.3x the baseline (before the start-up work of 2026-12-06: 1.1x, 1.45x,
1.53x, 1.36x). Prints a table and one JSON summary line. About 2 minutes (``sentinel dev``
takes about 20 s to start).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    describe,
    machine,
    median,
    print_summary,
    print_table,
    ratio,
    sandbox,
    sentinel_bin,
    verdict,
)
from credentials_bench import BOTO3_SCRIPT  # noqa: E402

TARGETS = {"credentials": 1.3, "exec": 1.3, "exec --server": 1.5, "exec --remote": 1.3}
CHILD = ["-c", "pass"]
# The baseline: the same two STS calls, then the same child.
RUN_CHILD = "import subprocess\nsubprocess.run([sys.executable, '-c', 'pass'])\n"
BASELINE = BOTO3_SCRIPT + RUN_CHILD
# Against the service the caller may not assume the role itself (that is the point of the
# service): its baseline is one GetCallerIdentity with the caller's own keys, then the child.
BASELINE_REMOTE = (
    "import sys, boto3\nboto3.Session().client('sts').get_caller_identity()\n" + RUN_CHILD
)


def cpu_of(argv: list[str], env: dict[str, str], scratch: Path) -> float:
    """User + sys CPU seconds of ``argv`` and every process it waited for, in a fresh HOME."""
    home = Path(tempfile.mkdtemp(dir=scratch))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        argv,
        env={**env, "HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"{Path(argv[0]).name} {' '.join(argv[1:4])} failed "
            f"(exit {proc.returncode}): {proc.stderr.decode()[-300:]}"
        )
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def alternate(
    mine: list[str], base: list[str], env: dict[str, str], runs: int, scratch: Path
) -> tuple[list[float], list[float]]:
    for _ in range(2):  # bytecode and page cache; not recorded
        cpu_of(mine, env, scratch)
        cpu_of(base, env, scratch)
    ta, tb = [], []
    for n in range(runs):
        if n % 2 == 0:
            ta.append(cpu_of(mine, env, scratch))
            tb.append(cpu_of(base, env, scratch))
        else:
            tb.append(cpu_of(base, env, scratch))
            ta.append(cpu_of(mine, env, scratch))
    return ta, tb


@contextlib.contextmanager
def enforced_service(scratch: Path) -> Iterator[dict[str, str]]:
    """``sentinel dev`` (enforced sandbox + credential service); yields its environment."""
    home = scratch / "dev-home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["HOME"] = str(home)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sentinel_bin(), "dev", "--dir", str(scratch / "dev")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while "SENTINEL_REMOTE" not in exports and len(exports) < 40:
            line = proc.stdout.readline()
            if not line.startswith("export "):
                log.seek(0)
                raise SystemExit(f"sentinel dev did not start: {log.read()[-300:]!r}")
            name, _, value = line[len("export ") :].rstrip("\n").partition("=")
            exports[name] = value.strip("'")
        yield {**env, **exports}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--no-remote", action="store_true", help="skip exec --remote")
    args = ap.parse_args()
    if not 3 <= args.runs <= 50:
        raise SystemExit("use --runs from 3 to 50")
    mach = machine()  # before the load: loadavg_1m shows what else was running
    sentinel, py = sentinel_bin(), sys.executable
    summary: dict[str, Any] = {"benchmark": "exec", **mach, "runs": args.runs}
    results: dict[str, tuple[list[float], list[float]]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="sentinel-exec-bench-"))
    try:
        with sandbox() as bench:
            env = bench.env
            base = [py, "-c", BASELINE, bench.sb.role_arns["dev"]]
            cases = {
                "credentials": [sentinel, "credentials", "--profile", "dev"],
                "exec": [sentinel, "exec", "--profile", "dev", "--", py, *CHILD],
                "exec --server": [
                    *[sentinel, "exec", "--server", "--profile", "prod"],
                    *["--", py, *CHILD],
                ],
            }
            for name, argv in cases.items():
                results[name] = alternate(argv, base, env, args.runs, scratch)
        if not args.no_remote:
            with enforced_service(scratch) as env:
                base = [py, "-c", BASELINE_REMOTE]
                argv = [sentinel, "exec", "--profile", "prod", "--", py, *CHILD]
                results["exec --remote"] = alternate(argv, base, env, args.runs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = []
    for name, (mine, base_cpu) in results.items():
        m, b = median(mine), median(base_cpu)
        x, limit = ratio(m, b), TARGETS[name]
        rows.append((name, m, b, x, f"<= {limit:g}x", verdict(x <= limit)))
        summary[name] = {
            "sentinel_cpu_s": round(m, 3),
            "baseline_cpu_s": round(b, 3),
            "ratio": x,
            "target": limit,
            "met": x <= limit,
            "sentinel_min_cpu_s": round(min(mine), 3),
        }
    print(f"{describe(mach)}, {args.runs} alternating runs each, medians, CPU seconds")
    print("baseline: boto3 GetCallerIdentity + AssumeRole, then the same child")
    print_table(["case", "sentinel CPU-s", "baseline CPU-s", "ratio", "target", "result"], rows)
    print_summary(summary)


if __name__ == "__main__":
    main()
