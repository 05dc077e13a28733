"""Benchmark: the credential server of ``sentinel exec --server`` under wrk, against a bare server.

Usage::

    python benchmarks/server_bench.py [--rounds 3] [--duration 5] [--connections 1,8,32]

It starts a sandbox (moto on 127.0.0.1, with the DynamoDB session table) and a real
``sentinel exec --server --profile prod`` session, so every request goes through the policy
(mode ``server``, the sandbox's inline policy re-checked with a stat), the revocation state
(kept by the tracker's 0.5 s poller against the sandbox table) and the request counter (flushed
to the table every second). The baseline is a bare threaded loopback server in its own process
that answers with a body of the same size in one ``sendall`` and closes.

Both sides get ``Connection: close`` on every request and close after one response, so each
request is one TCP connection (wrk reconnects). Each round runs baseline and Sentinel back to
back at each concurrency, alternating which goes first; the table shows medians over the rounds.
At the end the session's ``request_count`` in DynamoDB is compared with what wrk reported.

Needs wrk (``apt-get install wrk``). Prints a table and one JSON summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ServerSession,
    WrkResult,
    describe,
    machine,
    median,
    print_summary,
    print_table,
    ratio,
    run_wrk,
    same_size_body,
    sandbox,
    start_baseline,
    tool,
    verdict,
)

P50_MAX, P99_MAX, RPS_MIN, ABS_RPS = 2.0, 3.0, 0.5, 2000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    ap.add_argument("--connections", default="1,8,32")
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    if args.rounds < 1 or args.duration <= 0 or args.duration > 60 or max(conns) > 256:
        raise SystemExit("use --rounds >= 1, --duration up to 60 and at most 256 connections")
    tool("wrk", "install it with: apt-get install wrk")
    mach = machine()  # before the load: loadavg_1m shows what else was running

    runs: dict[str, dict[int, list[WrkResult]]] = {
        "baseline": defaultdict(list),
        "sentinel": defaultdict(list),
    }
    sentinel_runs: list[WrkResult] = []  # every run against Sentinel, warm-up included
    probes = 0
    with sandbox() as bench:
        session = ServerSession(bench, "prod")
        try:
            body = session.fetch()
            probes += 1
            with start_baseline(same_size_body(body)) as base_url:
                targets = {"baseline": (base_url, ""), "sentinel": (session.uri, session.token)}
                for name, (url, token) in targets.items():  # warm-up, not reported
                    result = run_wrk(url, 8, 1.0, token)
                    if name == "sentinel":
                        sentinel_runs.append(result)
                for rnd in range(args.rounds):
                    order = ["baseline", "sentinel"] if rnd % 2 == 0 else ["sentinel", "baseline"]
                    for c in conns:
                        for name in order:
                            url, token = targets[name]
                            result = run_wrk(url, c, args.duration, token)
                            runs[name][c].append(result)
                            if name == "sentinel":
                                sentinel_runs.append(result)
                            print(
                                f"round {rnd + 1} c={c:<3} {name:<9} p50 {result.p50_ms:.2f} ms"
                                f"  p99 {result.p99_ms:.2f} ms  {result.rps:,.0f} req/s"
                                f"  non-2xx {result.non_2xx}  errors {result.socket_errors}",
                                file=sys.stderr,
                            )
        finally:
            code = session.stop()
        shown = bench.run_sentinel("server-session", session.session_id, "--format", "json")
        record = json.loads(shown.stdout) if shown.returncode == 0 else {}

    rows: list[tuple[Any, ...]] = []
    per_c: dict[str, dict[str, Any]] = {}
    all_met = True
    for c in conns:
        b, s = runs["baseline"][c], runs["sentinel"][c]
        m = {
            k: (median([getattr(r, k) for r in b]), median([getattr(r, k) for r in s]))
            for k in ("p50_ms", "p99_ms", "rps")
        }
        failed = sum(r.non_2xx + r.socket_errors for r in s)
        base_failed = sum(r.non_2xx + r.socket_errors for r in b)
        r50, r99 = ratio(m["p50_ms"][1], m["p50_ms"][0]), ratio(m["p99_ms"][1], m["p99_ms"][0])
        rrps = ratio(m["rps"][1], m["rps"][0])
        met = {
            "p50": r50 <= P50_MAX,
            "p99": r99 <= P99_MAX,
            "throughput": rrps >= RPS_MIN,
            "zero_failed": failed == 0,
        }
        all_met = all_met and all(met.values())
        rows.append(
            (
                c,
                m["p50_ms"][0],
                m["p50_ms"][1],
                r50,
                m["p99_ms"][0],
                m["p99_ms"][1],
                r99,
                m["rps"][0],
                m["rps"][1],
                rrps,
                failed,
                " ".join(f"{k}:{verdict(v)}" for k, v in met.items()),
            )
        )
        per_c[str(c)] = {
            "baseline": {
                "p50_ms": round(m["p50_ms"][0], 3),
                "p99_ms": round(m["p99_ms"][0], 3),
                "rps": round(m["rps"][0]),
                "failed": base_failed,
            },
            "sentinel": {
                "p50_ms": round(m["p50_ms"][1], 3),
                "p99_ms": round(m["p99_ms"][1], 3),
                "rps": round(m["rps"][1]),
                "failed": failed,
            },
            "p50_ratio": r50,
            "p99_ratio": r99,
            "rps_ratio": rrps,
            "targets": {k: bool(v) for k, v in met.items()},
        }

    ok = sum(r.ok for r in sentinel_runs) + probes
    sent = sum(r.sent for r in sentinel_runs) + probes
    counted = int(record.get("request_count", -1))
    best_rps = max(v["sentinel"]["rps"] for v in per_c.values())

    print(
        f"{describe(mach)}, {args.rounds} rounds "
        f"x {args.duration:g}s per run, one TCP connection per request (Connection: close)"
    )
    print_table(
        [
            "conns",
            "base p50 ms",
            "sent p50 ms",
            "x",
            "base p99 ms",
            "sent p99 ms",
            "x",
            "base req/s",
            "sent req/s",
            "x",
            "failed",
            "targets (p50<=2x p99<=3x rps>=0.5x)",
        ],
        rows,
    )
    print(
        f"best Sentinel throughput {best_rps:,} req/s (reference: >= {ABS_RPS:,.0f} on 2 cores):"
        f" {verdict(best_rps >= ABS_RPS)}"
    )
    exact = ok <= counted <= sent
    print(
        f"session {session.session_id}: status {record.get('status')}, request_count "
        f"{counted:,} in DynamoDB; wrk 2xx responses + probes {ok:,}, requests sent {sent:,} "
        f"(the difference is requests in flight when wrk stopped): "
        f"{'consistent' if exact else 'MISMATCH'}; sentinel exit code {code}"
    )
    print_summary(
        {
            "benchmark": "server",
            **mach,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "connections": per_c,
            "best_sentinel_rps": best_rps,
            "abs_rps_target_met": best_rps >= ABS_RPS,
            "all_ratio_targets_met": all_met,
            "request_count": counted,
            "wrk_2xx_plus_probes": ok,
            "wrk_sent_plus_probes": sent,
            "request_count_consistent": exact,
            "session_status": record.get("status"),
            "sentinel_exit_code": code,
        }
    )


if __name__ == "__main__":
    main()
