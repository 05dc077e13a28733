"""Benchmark: a credential request through the credential service, against its unavoidable AWS
round trips made directly.

Usage::

    python benchmarks/service_bench.py [--requests 200] [--workers 8] [--rounds 2]

It starts ``sentinel dev`` (moto with IAM enforcement and the service on loopback, in their own
process). Each of ``--workers`` processes then makes ``--requests`` calls back to back:

- **service**: ``POST /v1/sessions/{id}/credentials`` with a fresh proof, as alice, on a session
  the worker started first (the service replays the proof to STS, reads the record and the
  block in one consistent BatchGetItem, re-evaluates the policy, serves cached role
  credentials and counts the request);
- **baseline**: one ``sts:GetCallerIdentity`` (as alice) and one consistent ``GetItem`` of a
  session record (as the security user), with boto3 clients made once per worker.

Rounds alternate which side goes first. Targets: p50 <= 1.5x and p99 <= 2x the baseline, and
no errors. Prints a table and one JSON summary line. Sends traffic only to loopback and stops
by itself.
"""

from __future__ import annotations

import argparse
import configparser
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    describe,
    machine,
    print_summary,
    print_table,
    ratio,
    sentinel_bin,
    verdict,
)

P50_MAX, P99_MAX = 1.5, 2.0
EXPORTS = 7


def start_dev(root: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(root / "home")
    (root / "home").mkdir(mode=0o700)
    proc = subprocess.Popen(
        [sentinel_bin(), "dev", "--dir", str(root / "sb")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    for _ in range(EXPORTS):
        line = proc.stdout.readline()
        if not line.startswith("export "):
            proc.kill()
            raise SystemExit("sentinel dev did not start")
        name, _, value = line[len("export ") :].strip().partition("=")
        exports[name] = value.strip("'")
    return proc, exports


def keys(exports: dict[str, str], profile: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(exports["AWS_SHARED_CREDENTIALS_FILE"])
    return parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"]


def _session(exports: dict[str, str], profile: str) -> Any:
    import boto3

    key, secret = keys(exports, profile)
    return boto3.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )


def worker(side: str, exports: dict[str, str], count: int, start: Any, out: Any) -> None:
    """One process: warm up, wait for the start signal, then ``count`` timed requests."""
    os.environ.update(exports)
    from sentinelgw.service.client import client_for_session

    alice = _session(exports, "default")
    if side == "service":
        client = client_for_session(exports["SENTINEL_REMOTE"], alice, region="us-east-1")
        session_id = client.start("prod").session_id

        def one() -> None:
            client.credentials(session_id)
    else:
        sts = alice.client("sts")
        ddb = _session(exports, "security").client("dynamodb")
        session_id = _one_session_id(exports)

        def one() -> None:
            sts.get_caller_identity()
            ddb.get_item(
                TableName="sentinel-sessions", Key={"id": {"S": session_id}}, ConsistentRead=True
            )

    for _ in range(5):
        one()
    start.wait()
    times, errors = [], 0
    began = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            one()
        except Exception:
            errors += 1
            continue
        times.append(time.perf_counter() - t0)
    out.put((times, errors, time.perf_counter() - began))


def _one_session_id(exports: dict[str, str]) -> str:
    from sentinelgw.service.client import client_for_session

    return (
        client_for_session(
            exports["SENTINEL_REMOTE"], _session(exports, "default"), region="us-east-1"
        )
        .start("dev")
        .session_id
    )


def run_side(side: str, exports: dict[str, str], workers: int, count: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(side, exports, count, start, out)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(3.0)  # let every worker finish its warm-up before the start signal
    began = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - began
    for p in procs:
        p.join(timeout=30)
    times = sorted(t for r in results for t in r[0])
    errors = sum(r[1] for r in results)
    return {
        "p50_ms": round(1000 * statistics.median(times), 2) if times else float("nan"),
        "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 2) if times else float("nan"),
        "rps": round(len(times) / wall, 1),
        "errors": errors,
        "requests": len(times) + errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200, help="requests per worker and side")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not (1 <= args.workers <= 32 and 1 <= args.requests <= 5000 and 1 <= args.rounds <= 5):
        raise SystemExit("use 1-32 workers, 1-5000 requests and 1-5 rounds")
    mach = machine()
    with tempfile.TemporaryDirectory(prefix="sentinel-service-bench-") as tmp:
        proc, exports = start_dev(Path(tmp))
        try:
            rounds: list[dict[str, dict[str, Any]]] = []
            for n in range(args.rounds):
                order = ["baseline", "service"] if n % 2 == 0 else ["service", "baseline"]
                rounds.append(
                    {side: run_side(side, exports, args.workers, args.requests) for side in order}
                )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    rows, summary_rounds = [], []
    for n, r in enumerate(rounds, 1):
        b, s = r["baseline"], r["service"]
        p50, p99 = ratio(s["p50_ms"], b["p50_ms"]), ratio(s["p99_ms"], b["p99_ms"])
        rows.append(
            [
                f"round {n}",
                b["p50_ms"],
                s["p50_ms"],
                p50,
                b["p99_ms"],
                s["p99_ms"],
                p99,
                b["rps"],
                s["rps"],
                s["errors"],
            ]
        )
        summary_rounds.append({"baseline": b, "service": s, "p50_ratio": p50, "p99_ratio": p99})
    print(
        f"service vs GetCallerIdentity + consistent GetItem, {args.workers} concurrent "
        f"workers, {args.requests} requests each; {describe(mach)}"
    )
    print_table(
        [
            "",
            "base p50 ms",
            "svc p50 ms",
            "p50 x",
            "base p99 ms",
            "svc p99 ms",
            "p99 x",
            "base req/s",
            "svc req/s",
            "svc errors",
        ],
        rows,
    )
    p50s = [r["p50_ratio"] for r in summary_rounds]
    p99s = [r["p99_ratio"] for r in summary_rounds]
    errors = sum(r["service"]["errors"] + r["baseline"]["errors"] for r in summary_rounds)
    met = statistics.median(p50s) <= P50_MAX and statistics.median(p99s) <= P99_MAX
    print(
        f"median p50 ratio {round(statistics.median(p50s), 2)} (target <= {P50_MAX}), "
        f"median p99 ratio {round(statistics.median(p99s), 2)} (target <= {P99_MAX}), "
        f"errors {errors}: "
        f"{verdict(met and errors == 0)}"
    )
    print_summary(
        {
            "bench": "service",
            "workers": args.workers,
            "requests": args.requests,
            "rounds": summary_rounds,
            "machine": mach,
            "met": met and errors == 0,
        }
    )


if __name__ == "__main__":
    main()
