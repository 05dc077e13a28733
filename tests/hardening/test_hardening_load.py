"""Load and concurrency against live ``sentinel exec --server`` sessions on the sandbox.

Bounded in count (and by socket timeouts), loopback only, and never timed: the assertions are
about correctness under load — no failed responses, an exact request counter, no credentials
after a revocation is seen, distinct records for parallel sessions.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from hardeninghelpers import PY, exchange, live_session, request_bytes, status_of
from tests.conftest import sentinel_command

CLIENTS = 50
PER_CLIENT = 100


def session_record(run_sentinel: Any, sid: str) -> dict[str, Any]:
    out = run_sentinel(["server-session", sid, "--format", "json"])
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def hammer(
    port: int,
    token: str,
    clients: int,
    per_client: int,
    refused: threading.Event | None = None,
    after_refusal: int = 0,
) -> list[tuple[int, int, int, bytes]]:
    """``clients`` threads × up to ``per_client`` requests, each on its own connection.

    With ``refused``, the first non-200 response sets it, and each client then makes at most
    ``after_refusal`` more requests. Every result is ``(start_seq, end_seq, status, body)``:
    the sequence numbers come from one global counter, taken just before connecting and just
    after the response is read, so "request B started after response A arrived" is
    ``B.start > A.end``.
    """
    seq = itertools.count()
    lock = threading.Lock()
    results: list[tuple[int, int, int, bytes]] = []
    data = request_bytes(port, token)

    def client() -> None:
        mine = []
        late = 0
        for _ in range(per_client):
            if refused is not None and refused.is_set():
                late += 1
                if late > after_refusal:
                    break
            with lock:
                start = next(seq)
            try:
                resp = exchange(port, data)
                status = status_of(resp) if resp else 0
            except OSError:
                resp, status = b"", -1
            with lock:
                end = next(seq)
            mine.append((start, end, status, resp.split(b"\r\n\r\n", 1)[-1]))
            if refused is not None and status != 200:
                refused.set()
        with lock:
            results.extend(mine)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    return results


# Slow: 5,000 requests from 50 concurrent clients through a real exec --server, counted
# exactly; 5-11 s on two shared cores.
@pytest.mark.slow
def test_fifty_clients_times_one_hundred_requests_exact_count(
    sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    with live_session(sandbox_env, "--profile", "prod") as live:
        results = hammer(live.port, live.token, CLIENTS, PER_CLIENT)
        code, stderr = live.finish()
    assert code == 0, stderr
    statuses = [r[2] for r in results]
    assert len(statuses) == CLIENTS * PER_CLIENT
    assert statuses.count(200) == CLIENTS * PER_CLIENT, {
        s: statuses.count(s) for s in set(statuses)
    }
    for _, _, _, body in results[:50]:
        doc = json.loads(body)
        assert set(doc) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    record = session_record(run_sentinel, live.session)
    assert record["status"] == "expired"
    # The child made no request of its own, so the counter is exactly what we sent.
    assert record["request_count"] == CLIENTS * PER_CLIENT


def test_no_credentials_after_the_first_refusal_under_load(
    sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    refused = threading.Event()
    with live_session(sandbox_env, "--profile", "prod") as live:
        holder: dict[str, list[tuple[int, int, int, bytes]]] = {}

        def load() -> None:
            # Bounded: at most 50 × 400 requests, and 20 more per client after a refusal.
            holder["r"] = hammer(live.port, live.token, CLIENTS, 400, refused, 20)

        loader = threading.Thread(target=load)
        loader.start()
        try:
            rev = run_sentinel(["server-revoke", live.session, "--reason", "load test"])
            assert rev.returncode == 0, rev.stderr
        finally:
            loader.join(timeout=300)
        code, stderr = live.finish()
    assert code == 0, stderr
    results = sorted(holder["r"])
    refusals = [r for r in results if r[2] != 200]
    assert refusals, "the revocation never took effect during the load"
    assert any(r[2] == 200 for r in results), "the revoke did not happen mid-load"
    assert all(r[2] == 403 and b"SessionRevoked" in r[3] for r in refusals), refusals[:3]
    first_refusal_end = min(r[1] for r in refusals)
    late_200s = [r for r in results if r[2] == 200 and r[0] > first_refusal_end]
    assert late_200s == [], f"{len(late_200s)} credentials served after the first refusal"
    assert all(b"SecretAccessKey" not in r[3] for r in refusals)
    assert session_record(run_sentinel, live.session)["status"] == "revoked"


@dataclass(frozen=True)
class Parallel:
    code: int
    session: str
    stderr: str


def test_many_server_sessions_in_parallel_against_one_table(
    sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    fetch = (
        "import os, urllib.request; e = os.environ; "
        "r = urllib.request.Request(e['AWS_CONTAINER_CREDENTIALS_FULL_URI'], headers="
        "{'Authorization': open(e['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']).read()}); "
        "urllib.request.urlopen(r).read(); print(e['AWS_SENTINEL_SESSION_ID'])"
    )

    def one(_: int) -> Parallel:
        out = subprocess.run(
            [*sentinel_command(), "exec", "--server", "--profile", "prod", "--", PY, "-c", fetch],
            env=sandbox_env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return Parallel(out.returncode, out.stdout.strip(), out.stderr)

    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(one, range(8)))
    assert [r.code for r in runs] == [0] * 8, [r.stderr for r in runs if r.code]
    ids = {r.session for r in runs}
    assert len(ids) == 8
    out = run_sentinel(
        ["server-sessions", "--format", "json", "--profile", "prod", "--since", "1h"]
    )
    assert out.returncode == 0, out.stderr
    listed = {row["id"]: row for row in json.loads(out.stdout)}
    for sid in ids:
        assert listed[sid]["status"] == "expired"
        assert listed[sid]["request_count"] == 1
    assert len({listed[s]["source_identity"] for s in ids}) == 8
