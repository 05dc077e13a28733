"""Benchmark: export N sessions (default 100,000) as JSON and CSV, against a bare scan.

Usage::

    python benchmarks/export_bench.py [--sessions 100000] [--endpoint-url URL] [--page-size N]

Without ``--endpoint-url`` it starts moto's server in a child process on 127.0.0.1 (a child,
so tracemalloc here measures only the client). It seeds a fresh table, then for each variant
measures wall time (untraced run) and peak Python heap (a second, traced run):

- ``baseline-scan``: a bare boto3 Scan paginator, each item dumped to /dev/null;
- ``export-json`` / ``export-csv``: ``SessionStore.query`` (GSI queries) through the streaming
  writers to /dev/null, which is what ``sentinel server-sessions --format json|csv`` does.

Prints a table, then one JSON summary line. Moto's query cost grows with the table size, so
absolute times say more about moto than DynamoDB; compare the variants with each other.
Moto also ignores DynamoDB's 1 MB page cap, so both sides use an explicit page size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import start_moto  # noqa: E402

from sentinelgw.sessions.export import write_csv, write_json
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.schema import ensure_table
from sentinelgw.sessions.store import SessionStore

REGION = "us-east-1"


def make_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed(client: Any, table: str, n: int) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ("active", "revoked", "expired")
    batch: list[dict[str, Any]] = []
    for i in range(n):
        started = t0 + timedelta(seconds=i)
        rec = SessionRecord.new(
            id=f"{i:016x}",
            user=f"user{i % 50}",
            profile=("prod", "dev", "stage")[i % 3],
            role_arn="arn:aws:iam::123456789012:role/prod",
            started_at=started,
            expires_at=started + timedelta(days=3650),
            server_instance_id=f"srv-{i % 200}",
            source_identity=f"sentinel.user{i % 50}.{i:016x}",
            host="bench-host",
        ).with_status(statuses[i % 3])
        batch.append({"PutRequest": {"Item": rec.to_item()}})
        if len(batch) == 25 or i == n - 1:
            pending: dict[str, Any] = {table: batch}
            while pending:
                pending = (
                    client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                )
            batch = []


def baseline_scan(client: Any, table: str, page_size: int | None) -> int:
    count = 0
    kwargs: dict[str, Any] = {"TableName": table}
    if page_size:
        kwargs["PaginationConfig"] = {"PageSize": page_size}
    with open(os.devnull, "w") as sink:
        for page in client.get_paginator("scan").paginate(**kwargs):
            for item in page["Items"]:
                sink.write(json.dumps(item))
                count += 1
    return count


def export(client: Any, table: str, page_size: int | None, fmt: str) -> int:
    store = SessionStore(client, table)
    writer = write_json if fmt == "json" else write_csv
    with open(os.devnull, "w") as sink:
        return writer(store.query(page_size=page_size), sink, datetime.now(UTC))


def measure(name: str, fn: Callable[[], int]) -> dict[str, float]:
    print(f"measuring {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    n = fn()
    wall = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rows": n, "wall_s": round(wall, 3), "peak_mib": round(peak / 2**20, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--endpoint-url", help="an existing moto/sandbox endpoint")
    parser.add_argument(
        "--page-size",
        type=int,
        default=1000,
        help="Query/Scan Limit per page (default 1000, the store's default; "
        "moto does not apply DynamoDB's 1 MB page cap)",
    )
    args = parser.parse_args()

    proc = None
    endpoint = args.endpoint_url
    if not endpoint:
        proc, endpoint = start_moto()
    try:
        client = make_client(endpoint)
        table = f"bench-sessions-{uuid.uuid4().hex[:8]}"
        ensure_table(client, table)
        print(f"seeding {args.sessions} sessions ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        seed(client, table, args.sessions)
        seed_s = time.perf_counter() - t0
        list(SessionStore(client, table).query(limit=1))  # warm up the service model
        size = args.page_size
        variants: dict[str, Callable[[], int]] = {
            "baseline-scan": lambda: baseline_scan(client, table, size),
            "export-json": lambda: export(client, table, size, "json"),
            "export-csv": lambda: export(client, table, size, "csv"),
        }
        results = {name: measure(name, fn) for name, fn in variants.items()}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    print(f"sessions: {args.sessions}  (seeded in {seed_s:.1f}s)")
    print(f"{'variant':<15} {'rows':>8} {'wall s':>9} {'peak MiB':>9}")
    for name, r in results.items():
        print(f"{name:<15} {int(r['rows']):>8} {r['wall_s']:>9.2f} {r['peak_mib']:>9.2f}")
    base = results["baseline-scan"]
    summary = {
        "benchmark": "export",
        "sessions": args.sessions,
        "page_size": args.page_size,
        "results": results,
        "json_vs_scan_time": round(results["export-json"]["wall_s"] / base["wall_s"], 2)
        if base["wall_s"]
        else None,
    }
    print(json.dumps(summary))
    ok = all(int(r["rows"]) == args.sessions for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
