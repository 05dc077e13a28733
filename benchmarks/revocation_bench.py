"""Benchmark: how fast ``sentinel server-revoke`` takes effect on a server session under load.

Usage::

    python benchmarks/revocation_bench.py [--repeats 5] [--threads 8] [--load-seconds 6]

For each repeat it starts a sandbox-backed ``sentinel exec --server --profile prod`` session
and a load generator in its own process (``--threads`` threads, each looping: connect to
127.0.0.1, GET the credentials with ``Connection: close``, read to EOF), which logs every
request's start and end time (``time.monotonic``, system-wide on Linux) and status. After
``--revoke-after`` seconds of load the bench runs ``sentinel server-revoke ID --reason bench``
and notes when it returns. From the log it reports:

- ``delay``: first refused response (403 ``SessionRevoked``) minus the revoke's return
  (negative when the server refused before the command had exited);
- ``served after refusal``: 200s for requests that *started* after the first refusal arrived
  (target 0), and, for information, 200s that merely *completed* after it (in flight);
- ``late 200s``: 200s for requests that started 1 s or more after the revoke returned (the
  documented guarantee; target 0).

Prints a table and one JSON summary line. No credential is logged: only status and code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ServerSession,
    describe,
    machine,
    median,
    print_summary,
    print_table,
    sandbox,
    verdict,
)

TARGET_S = 1.0


# -- load generator (runs as a child process, so its GIL is not the sandbox's) ---------------


def _one(port: int, request: bytes) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    code = re.search(rb'"Code":"(\w+)"', data) if status != 200 else None
    return status, code.group(1).decode() if code else ""


def _load_main(port: int, seconds: float, threads: int) -> None:
    token = os.environ["BENCH_TOKEN"]
    request = (
        f"GET /sentinel/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {token}\r\nConnection: close\r\n\r\n"
    ).encode()
    logs: list[list[tuple[float, float, int, str]]] = [[] for _ in range(threads)]
    end = time.monotonic() + seconds

    def worker(log: list[tuple[float, float, int, str]]) -> None:
        while (start := time.monotonic()) < end:
            try:
                status, code = _one(port, request)
            except OSError as exc:
                status, code = 0, type(exc).__name__
            log.append((start, time.monotonic(), status, code))

    workers = [threading.Thread(target=worker, args=(log,)) for log in logs]
    print("ready", flush=True)
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    json.dump([rec for log in logs for rec in log], sys.stdout)


# -- the bench --------------------------------------------------------------------------------


def one_repeat(bench: Any, args: argparse.Namespace) -> dict[str, Any]:
    session = ServerSession(bench, "prod")
    loader = None
    try:
        loader = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--load",
                str(session.port),
                str(args.load_seconds),
                str(args.threads),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, BENCH_TOKEN=session.token),
        )
        assert loader.stdout is not None
        loader.stdout.readline()
        time.sleep(args.revoke_after)
        called = time.monotonic()
        revoke = bench.run_sentinel("server-revoke", session.session_id, "--reason", "bench")
        returned = time.monotonic()
        out, _ = loader.communicate(timeout=args.load_seconds + 30)
        log = [tuple(r) for r in json.loads(out)]
    finally:
        if loader is not None and loader.poll() is None:
            loader.kill()
            loader.wait()
        session.stop()

    refused = [r for r in log if r[2] != 200]
    first = min(refused, key=lambda r: r[1]) if refused else None
    first_at = first[1] if first else float("inf")
    oks = [r for r in log if r[2] == 200]
    return {
        "session": session.session_id,
        "revoke_exit": revoke.returncode,
        "revoke_cmd_s": round(returned - called, 3),
        "requests": len(log),
        "ok_before": sum(1 for r in oks if r[1] <= first_at),
        "first_refusal_code": first[3] if first else None,
        "other_failures": sum(1 for r in refused if r[3] != "SessionRevoked"),
        "delay_s": round(first_at - returned, 3) if first else None,
        "ok_started_after_refusal": sum(1 for r in oks if r[0] >= first_at),
        "ok_completed_after_refusal": sum(1 for r in oks if r[1] > first_at),
        "ok_started_1s_after_revoke": sum(1 for r in oks if r[0] >= returned + TARGET_S),
        "load_rps": round(len(log) / args.load_seconds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--load-seconds", type=float, default=6.0)
    ap.add_argument("--revoke-after", type=float, default=1.5)
    args = ap.parse_args()
    if not (
        1 <= args.repeats <= 20
        and 1 <= args.threads <= 64
        and args.load_seconds <= 60
        and 0 < args.revoke_after < args.load_seconds - 2
    ):
        raise SystemExit(
            "use 1-20 repeats, 1-64 threads, load up to 60 s, and revoke at least "
            "2 s before the load ends"
        )

    mach = machine()  # before the load: loadavg_1m shows what else was running
    results = []
    with sandbox() as bench:
        for n in range(args.repeats):
            res = one_repeat(bench, args)
            results.append(res)
            print(
                f"repeat {n + 1}: delay {res['delay_s']} s, {res['requests']} requests",
                file=sys.stderr,
            )

    rows = [
        (
            n + 1,
            r["load_rps"],
            r["revoke_cmd_s"],
            r["delay_s"],
            r["first_refusal_code"],
            r["ok_started_after_refusal"],
            r["ok_completed_after_refusal"],
            r["ok_started_1s_after_revoke"],
            r["other_failures"],
        )
        for n, r in enumerate(results)
    ]
    delays = [r["delay_s"] for r in results if r["delay_s"] is not None]
    never = sum(1 for r in results if r["delay_s"] is None)
    after = sum(r["ok_started_after_refusal"] for r in results)
    late = sum(r["ok_started_1s_after_revoke"] for r in results)
    worst = max(delays) if delays else float("inf")
    met_delay = not never and worst <= TARGET_S
    print(
        f"{describe(mach)}, {args.threads} load "
        f"threads, revoke after {args.revoke_after:g}s of load"
    )
    print_table(
        [
            "repeat",
            "load req/s",
            "revoke cmd s",
            "delay s",
            "refusal",
            "200 started after",
            "200 in flight",
            "200 >=1s after revoke",
            "other failures",
        ],
        rows,
    )
    print(
        f"delay from revoke return to first refusal: median {median(delays):.3f} s, max "
        f"{worst:.3f} s (target <= {TARGET_S:g} s): {verdict(met_delay)}; never refused: {never}"
    )
    print(
        f"credentials served to requests started after the first refusal: {after} "
        f"(target 0): {verdict(after == 0)}; 200s started >= 1 s after the revoke: {late}"
    )
    print_summary(
        {
            "benchmark": "revocation",
            **mach,
            "threads": args.threads,
            "repeats": results,
            "delay_median_s": round(median(delays), 3) if delays else None,
            "delay_max_s": round(worst, 3) if delays else None,
            "never_refused": never,
            "served_after_first_refusal": after,
            "served_1s_after_revoke": late,
            "delay_target_met": met_delay,
            "none_after_target_met": after == 0,
        }
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        _load_main(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
