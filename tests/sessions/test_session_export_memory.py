"""Exports stream: memory stays flat as the number of sessions grows.

The measurement runs in a child interpreter so tracemalloc sees only the client side, not the
sandbox's moto thread in this process. The 100k figure lives in benchmarks/export_bench.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any

from sessionhelpers import T0, record, seed

from sentinelgw.sessions.schema import ensure_table

_CHILD = textwrap.dedent("""
    import io, json, os, sys, tracemalloc
    import boto3
    from sentinelgw.sessions.export import write_json
    from sentinelgw.sessions.store import SessionStore
    endpoint, table, mode = sys.argv[1:4]
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    store = SessionStore(client, table)
    list(store.query(limit=1))  # warm up: load the service model before measuring
    sink = open(os.devnull, "w")
    tracemalloc.start()
    if mode == "stream":
        n = write_json(store.query(page_size=50), sink, __import__("datetime").datetime.now(
            __import__("datetime").UTC))
        held = None
    else:
        held = list(store.query(page_size=50))
        n = len(held)
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"n": n, "peak": peak}))
""")


def _measure(endpoint: str, table: str, mode: str) -> dict[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, endpoint, table, mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, int] = json.loads(proc.stdout)
    return result


def test_export_memory_does_not_grow_with_the_number_of_sessions(
    ddb: Any, endpoint_url: str, table_name: str
) -> None:
    small, large = f"{table_name}-s", f"{table_name}-l"
    for name, count in ((small, 100), (large, 500)):
        ensure_table(ddb, name)
        seed(ddb, name, [record(i, expires_at=T0 + timedelta(days=1)) for i in range(count)])
    stream_small = _measure(endpoint_url, small, "stream")
    stream_large = _measure(endpoint_url, large, "stream")
    held_small = _measure(endpoint_url, small, "list")
    held_large = _measure(endpoint_url, large, "list")
    assert [m["n"] for m in (stream_small, stream_large, held_small, held_large)] == [
        100,
        500,
        100,
        500,
    ]
    # Five times the sessions, about the same peak: the writer holds one page at a time ...
    assert stream_large["peak"] < 1.2 * stream_small["peak"]
    # ... while holding the records, as a list would, grows with them: the 400 more records
    # cost far more than any growth of the streamed peak.
    held_growth = held_large["peak"] - held_small["peak"]
    stream_growth = max(stream_large["peak"] - stream_small["peak"], 0)
    assert held_growth > 2 * stream_growth + 100_000, (held_growth, stream_growth)
