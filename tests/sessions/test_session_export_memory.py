"""Exports stream: memory stays flat as the number of sessions grows.

The measurements run in one child interpreter so tracemalloc sees only the client side, not
the sandbox's moto thread in this process; tracemalloc runs only around each measured read.
Pages of 25 keep the tables small while the larger one still spans ten pages, and a long
profile name makes each record weigh about 2 KB, so holding the records stands out clearly
from what botocore allocates per request. The 100k figure lives in benchmarks/export_bench.py.
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

PAGE = 25
SMALL, LARGE = 2 * PAGE, 10 * PAGE  # five times the sessions
PROFILE = "p" * 1000  # weight for each record (a key of the profile index: at most 2 KB)

_CHILD = textwrap.dedent("""
    import json, os, sys, tracemalloc
    from datetime import UTC, datetime
    import boto3
    from sentinelgw.sessions.export import write_json
    from sentinelgw.sessions.store import SessionStore
    endpoint, small, large, page = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    sink = open(os.devnull, "w")

    def stream(table):
        return write_json(SessionStore(client, table).query(page_size=page), sink,
                          datetime.now(UTC))

    def hold(table):
        held = list(SessionStore(client, table).query(page_size=page))
        return len(held)

    def peak(run, table):
        tracemalloc.start()
        n = run(table)
        result = {"n": n, "peak": tracemalloc.get_traced_memory()[1]}
        tracemalloc.stop()
        return result

    stream(small)  # warm up, untraced: service model, parsers and caches load here
    # The larger streamed read first: anything still loading lands on it, not on the smaller.
    found = {"stream_large": peak(stream, large), "stream_small": peak(stream, small)}
    found.update(held_small=peak(hold, small), held_large=peak(hold, large))
    print(json.dumps(found))
""")


def test_export_memory_does_not_grow_with_the_number_of_sessions(
    ddb: Any, endpoint_url: str, table_name: str
) -> None:
    small, large = f"{table_name}-s", f"{table_name}-l"
    for name, count in ((small, SMALL), (large, LARGE)):
        ensure_table(ddb, name)
        seed(
            ddb,
            name,
            [record(i, expires_at=T0 + timedelta(days=1), profile=PROFILE) for i in range(count)],
        )
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, endpoint_url, small, large, str(PAGE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    m: dict[str, dict[str, int]] = json.loads(proc.stdout)
    counts = [m[k]["n"] for k in ("stream_small", "stream_large", "held_small", "held_large")]
    assert counts == [SMALL, LARGE, SMALL, LARGE]
    # Five times the sessions, about the same peak: the writer holds one page at a time ...
    assert m["stream_large"]["peak"] < 1.2 * m["stream_small"]["peak"]
    # ... while holding the records, as a list would, grows with them: the 200 more records
    # cost far more than any growth of the streamed peak.
    held_growth = m["held_large"]["peak"] - m["held_small"]["peak"]
    stream_growth = max(m["stream_large"]["peak"] - m["stream_small"]["peak"], 0)
    assert held_growth > 2 * stream_growth + 100_000, (held_growth, stream_growth)
