"""Benchmark: wall time of ``sentinel credentials`` (credential_process), warm and cold.

Usage::

    python benchmarks/credentials_bench.py [--runs 15]

Against a fresh sandbox (``HOME`` in a temp dir, so the credentials cache is the bench's own),
alternating the two commands of each pair, each run a new process:

- ``warm``: ``sentinel credentials --profile dev`` with valid cached credentials (the policy is
  still evaluated) against the baseline ``python -c "import boto3"``;
- ``cold``: ``sentinel credentials --profile dev --no-cache`` (GetCallerIdentity, policy,
  AssumeRole with a SourceIdentity) against a minimal boto3 script making the same two calls
  and printing the same JSON.

Both sides use this Python (the venv's) and the venv's ``sentinel`` script. Two unrecorded
runs of each command come first. Targets: warm <= 0.5x, cold <= 1.5x the baseline (medians).
It also times ``python -c pass`` (the floor of any Python command). When the warm target is
missed it lists the slowest imports of the warm path
(``python -X importtime``). Prints a table and one JSON summary line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
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

WARM_MAX, COLD_MAX = 0.5, 1.5

# The same calls Sentinel's cold path makes, with nothing else: who am I, then AssumeRole.
BOTO3_SCRIPT = (
    "import json, sys, boto3\n"
    "s = boto3.Session(profile_name='sentinel-source')\n"
    "sts = s.client('sts')\n"
    "user = sts.get_caller_identity()['Arn'].rsplit('/', 1)[-1]\n"
    "sid = 'sentinel.' + user + '.0123456789abcdef'\n"
    "c = sts.assume_role(RoleArn=sys.argv[1], RoleSessionName=sid, SourceIdentity=sid,\n"
    "                    DurationSeconds=3600)['Credentials']\n"
    "print(json.dumps({'Version': 1, 'AccessKeyId': c['AccessKeyId'],\n"
    "                  'SecretAccessKey': c['SecretAccessKey'],\n"
    "                  'SessionToken': c['SessionToken'],\n"
    "                  'Expiration': c['Expiration'].isoformat()}))\n"
)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{Path(argv[0]).name} {' '.join(argv[1:3])} failed "
            f"(exit {proc.returncode}): {proc.stderr.decode()[-300:]}"
        )
    return elapsed


def alternate(
    a: list[str], b: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    for _ in range(2):  # warm the page cache and the .pyc files; not recorded
        timed(a, env)
        timed(b, env)
    ta, tb = [], []
    for n in range(runs):
        first, second = (a, b) if n % 2 == 0 else (b, a)  # alternate which one goes first
        t1, t2 = timed(first, env), timed(second, env)
        if first is a:
            ta.append(t1)
            tb.append(t2)
        else:
            ta.append(t2)
            tb.append(t1)
    return ta, tb


def slowest_imports(argv: list[str], env: dict[str, str], top: int = 12) -> list[tuple[str, int]]:
    """Packages imported on the warm path, by the sum of their modules' own import time
    (microseconds; ``python -X importtime`` self column, so the figures add up)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    per_pkg: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if m:
            parts = m.group(2).split(".")
            pkg = ".".join(parts[:2]) if parts[0] == "sentinelgw" else parts[0]
            per_pkg[pkg] = per_pkg.get(pkg, 0) + int(m.group(1))
    return sorted(per_pkg.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if not 3 <= args.runs <= 100:
        raise SystemExit("use --runs from 3 to 100")
    mach = machine()  # before the load: loadavg_1m shows what else was running
    sentinel = sentinel_bin()
    py = sys.executable
    summary: dict[str, Any] = {"benchmark": "credentials", **mach, "runs": args.runs}
    with sandbox() as bench:
        env = bench.env
        warm_cmd = [sentinel, "credentials", "--profile", "dev"]
        timed(warm_cmd, env)  # fills the cache
        warm, imp = alternate(warm_cmd, [py, "-c", "import boto3"], env, args.runs)
        cold, b3 = alternate(
            [sentinel, "credentials", "--profile", "dev", "--no-cache"],
            [py, "-c", BOTO3_SCRIPT, bench.sb.role_arns["dev"]],
            env,
            args.runs,
        )
        floor = [timed([py, "-c", "pass"], env) for _ in range(args.runs)]
        imports = slowest_imports([sentinel, *warm_cmd[1:]], env)

    rows = []
    for name, mine, base, base_name, limit in (
        ("warm (cache valid)", warm, imp, 'python -c "import boto3"', WARM_MAX),
        ("cold (--no-cache)", cold, b3, "boto3 GetCallerIdentity + AssumeRole", COLD_MAX),
    ):
        m, b = median(mine), median(base)
        x = ratio(m, b)
        rows.append((name, m * 1000, base_name, b * 1000, x, f"<= {limit:g}x", verdict(x <= limit)))
        key = name.split()[0]
        summary[key] = {
            "sentinel_ms": round(m * 1000, 1),
            "baseline_ms": round(b * 1000, 1),
            "ratio": x,
            "target": limit,
            "met": x <= limit,
            "sentinel_min_ms": round(min(mine) * 1000, 1),
            "baseline_min_ms": round(min(base) * 1000, 1),
        }
    summary["python_startup_ms"] = round(median(floor) * 1000, 1)
    print(f"{describe(mach)}, {args.runs} alternating runs each, medians")
    print_table(
        ["case", "sentinel ms", "baseline", "baseline ms", "ratio", "target", "result"], rows
    )
    print(
        f"for reference, python -c pass: {summary['python_startup_ms']:.0f} ms (the floor of "
        "any Python command)"
    )
    if not summary["warm"]["met"]:
        print("warm path, own import time per package (python -X importtime):")
        for pkg, us in imports:
            print(f"  {pkg:<24}{us / 1000:>8.1f} ms")
    summary["warm_imports_ms"] = {pkg: round(us / 1000, 1) for pkg, us in imports}
    print_summary(summary)


if __name__ == "__main__":
    main()
