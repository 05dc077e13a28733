"""The Athena API flow (start, poll, page), against moto's Athena in the sandbox.

moto does not run SQL: its documented way to give a query a result is to queue one with a POST
to ``/moto-api/static/athena/query-results``; the next StartQueryExecution takes it. The rows
queued here are the ones DuckDB computed from real-shaped log files with the generated query,
so the flow is checked end to end. Query states are driven through moto's state manager
(``/moto-api/state-manager/set-transition``).

What moto cannot produce (a FAILED state with Athena's reason, throttling, several result pages,
a non-zero DataScannedInBytes) is served by a small Athena endpoint on loopback
(``athena_stub``), still reached through boto3 and botocore over HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from athenahelpers import (
    athena_client,
    athena_result,
    deliver,
    duck_table,
    queue_result,
    run_audit_sql,
    slowed_athena,
    sts_event,
)

from sentinelgw.audit.athena import AthenaTarget, Polling, QueryStats, athena_records
from sentinelgw.audit.athena_sql import RESULT_COLUMNS, audit_query, record_from_row
from sentinelgw.errors import AuditError

T0 = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(hours=1)
SID = "sentinel.alice.0123456789abcdef"


@pytest.fixture
def athena(sandbox: Any, audit_env: dict[str, str]) -> Any:
    return athena_client(sandbox)


@pytest.fixture
def seed(sandbox: Any) -> Callable[[dict[str, Any]], None]:
    return lambda result: queue_result(sandbox, result)


@pytest.fixture
def slow_queries(sandbox: Any) -> Iterator[Callable[[int], None]]:
    with slowed_athena(sandbox) as slow:
        yield slow


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def read_all(client: Any, stats: QueryStats, clock: FakeClock, **polling: Any) -> list[Any]:
    """Every record of the audit query on TARGET, sleeping on ``clock``."""
    return list(
        athena_records(
            client,
            TARGET,
            START,
            END,
            stats,
            sleep=clock.sleep,
            clock=clock.clock,
            polling=Polling(**polling),
        )
    )


def duck_rows(root: Path) -> list[dict[str, str | None]]:
    con = duckdb.connect()
    duck_table(con, root, "trail", "org")
    return run_audit_sql(con, audit_query("trail", "org", START, END))


TARGET = AthenaTarget(database="trail", table="org", output="s3://athena-results/sentinel/")


def test_records_come_back_through_moto_as_duckdb_computed_them(
    tmp_path: Path, athena: Any, seed: Callable[[dict[str, Any]], None]
) -> None:
    deliver(
        tmp_path,
        [
            sts_event(at=T0, source_identity=SID),
            sts_event(at=T0),
            sts_event(at=T0),
            sts_event(at=T0, error="AccessDenied"),
        ],
        folder_day=T0,
    )
    rows = duck_rows(tmp_path)
    seed(athena_result(rows))
    stats = QueryStats()
    clock = FakeClock()
    got = list(
        athena_records(athena, TARGET, START, END, stats, sleep=clock.sleep, clock=clock.clock)
    )
    assert got == [record_from_row(r) for r in rows]
    assert sum(r.count for r in got) == 4
    assert stats.query_id and stats.state == "SUCCEEDED" and stats.rows == len(rows)
    assert stats.output == f"s3://athena-results/sentinel/{stats.query_id}.csv"
    sent = athena.get_query_execution(QueryExecutionId=stats.query_id)["QueryExecution"]
    assert sent["Query"] == audit_query("trail", "org", START, END)
    assert sent["QueryExecutionContext"]["Database"] == "trail"


def test_polls_with_growing_delays_until_the_query_succeeds(
    athena: Any, seed: Callable[[dict[str, Any]], None], slow_queries: Callable[[int], None]
) -> None:
    slow_queries(2)  # moto moves on at every 2nd poll: QUEUED, RUNNING, RUNNING, SUCCEEDED
    seed(athena_result([]))
    clock = FakeClock()
    stats = QueryStats()
    assert read_all(athena, stats, clock, first_delay=0.5, max_delay=1.0) == []
    assert stats.polls == 4
    assert clock.sleeps == [0.5, 1.0, 1.0]


def test_a_query_that_outlives_the_timeout_is_cancelled_and_fails(
    athena: Any, slow_queries: Callable[[int], None]
) -> None:
    slow_queries(1000)
    clock = FakeClock()
    stats = QueryStats()
    with pytest.raises(AuditError) as err:
        read_all(athena, stats, clock, timeout=10)
    assert stats.query_id and stats.query_id in str(err.value)
    assert "workgroup 'primary'" in str(err.value) and "did not finish within 10 s" in str(
        err.value
    )
    assert err.value.exit_code == 2
    state = athena.get_query_execution(QueryExecutionId=stats.query_id)["QueryExecution"]
    assert state["Status"]["State"] == "CANCELLED"
    assert sum(clock.sleeps) == pytest.approx(10)


def test_a_query_cancelled_elsewhere_is_an_error_never_an_empty_result(
    athena: Any, sandbox: Any, audit_env: dict[str, str], slow_queries: Callable[[int], None]
) -> None:
    slow_queries(1000)
    other = athena_client(sandbox)
    stats = QueryStats()

    def cancel_then_wait(_seconds: float) -> None:
        assert stats.query_id is not None
        other.stop_query_execution(QueryExecutionId=stats.query_id)

    with pytest.raises(AuditError) as err:
        list(athena_records(athena, TARGET, START, END, stats, sleep=cancel_then_wait))
    assert f"Athena query {stats.query_id} in workgroup 'primary' ended CANCELLED" in str(err.value)
    assert stats.rows == 0


def test_an_unknown_workgroup_is_named(athena: Any) -> None:
    target = AthenaTarget(database="trail", table="org", workgroup="no-such-wg")
    with pytest.raises(AuditError) as err:
        list(athena_records(athena, target, START, END, QueryStats()))
    assert "no-such-wg" in str(err.value) and "StartQueryExecution" in str(err.value)


def test_a_result_without_the_querys_columns_is_an_error(athena: Any) -> None:
    # Nothing queued: moto answers with no columns and no rows, as a wrong query might.
    with pytest.raises(AuditError) as err:
        list(athena_records(athena, TARGET, START, END, QueryStats(), sleep=lambda _s: None))
    assert "returned the columns (none), not the audit query's" in str(err.value)


def test_a_row_that_cannot_be_read_is_an_error(
    athena: Any, seed: Callable[[dict[str, Any]], None]
) -> None:
    bad = dict.fromkeys(RESULT_COLUMNS, None) | {"row_kind": "event", "event_count": "many"}
    seed(athena_result([bad]))
    with pytest.raises(AuditError) as err:
        list(athena_records(athena, TARGET, START, END, QueryStats(), sleep=lambda _s: None))
    assert "returned a row the audit cannot read: event_count is 'many'" in str(err.value)


# --- what moto cannot do: a loopback Athena endpoint ---------------------------------------


class StubAthena:
    """Scripted answers per operation; records every request it gets."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def answer(self, op: str, body: dict[str, Any], status: int = 200) -> None:
        self.script.setdefault(op, []).append((status, body))

    def next(self, op: str) -> tuple[int, dict[str, Any]]:
        queue = self.script.get(op) or [
            (400, {"__type": "InvalidRequestException", "Message": f"unscripted {op}"})
        ]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def athena_stub() -> Iterator[tuple[StubAthena, Any]]:
    import boto3

    stub = StubAthena()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            stub.requests.append((op, body))
            status, answer = stub.next(op)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.client(
        "athena",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="AKIASTUB",
        aws_secret_access_key="stub-not-secret",
    )
    try:
        yield stub, client
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _execution(state: str, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    status.update(extra.pop("status", {}))
    return {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status, **extra}}


def test_a_failed_query_gives_athenas_reason_and_exit_2(
    athena_stub: tuple[StubAthena, Any],
) -> None:
    stub, client = athena_stub
    stub.answer("StartQueryExecution", {"QueryExecutionId": "q-1"})
    stub.answer(
        "GetQueryExecution",
        _execution(
            "FAILED",
            status={
                "StateChangeReason": "TABLE_NOT_FOUND: line 24:8: Table 'awsdatacatalog.trail.org' "
                "does not exist",
                "AthenaError": {"ErrorCategory": 2, "ErrorType": 1301, "Retryable": False},
            },
        ),
    )
    target = AthenaTarget(database="trail", table="org", workgroup="audit-wg")
    with pytest.raises(AuditError) as err:
        list(athena_records(client, target, START, END, QueryStats(), sleep=lambda _s: None))
    text = str(err.value)
    assert text.startswith(
        "Athena query q-1 in workgroup 'audit-wg' ended FAILED: "
        "TABLE_NOT_FOUND: line 24:8: Table 'awsdatacatalog.trail.org' "
        "does not exist (error type 1301)"
    )
    assert "athena-ddl --apply" in text and err.value.exit_code == 2
    assert [op for op, _ in stub.requests] == ["StartQueryExecution", "GetQueryExecution"]


def test_pages_are_followed_and_bytes_scanned_reported(
    tmp_path: Path, athena_stub: tuple[StubAthena, Any]
) -> None:
    stub, client = athena_stub
    deliver(
        tmp_path,
        [sts_event(at=T0 + timedelta(minutes=i), source_identity=SID) for i in range(5)],
        folder_day=T0,
    )
    rows = duck_rows(tmp_path)
    assert len(rows) == 5
    first = athena_result(rows[:2])
    rest = athena_result(rows[2:], header=False)
    meta = {"ColumnInfo": first["column_info"]}
    stub.answer("StartQueryExecution", {"QueryExecutionId": "q-1"})
    stub.answer("GetQueryExecution", _execution("RUNNING"))
    stub.answer(
        "GetQueryExecution",
        _execution(
            "SUCCEEDED",
            Statistics={"DataScannedInBytes": 123_456_789, "EngineExecutionTimeInMillis": 4321},
        ),
    )
    stub.answer(
        "GetQueryResults",
        {"ResultSet": {"Rows": first["rows"], "ResultSetMetadata": meta}, "NextToken": "page-2"},
    )
    stub.answer(
        "GetQueryResults",
        {"ResultSet": {"Rows": rest["rows"][:2], "ResultSetMetadata": meta}, "NextToken": "page-3"},
    )
    stub.answer(
        "GetQueryResults", {"ResultSet": {"Rows": rest["rows"][2:], "ResultSetMetadata": meta}}
    )
    stats = QueryStats()
    got = list(
        athena_records(
            client, TARGET, START, END, stats, sleep=lambda _s: None, polling=Polling(page_size=2)
        )
    )
    assert got == [record_from_row(r) for r in rows]
    assert (stats.pages, stats.rows, stats.bytes_scanned, stats.engine_ms) == (
        3,
        5,
        123_456_789,
        4321,
    )
    pages = [body for op, body in stub.requests if op == "GetQueryResults"]
    assert [p.get("NextToken") for p in pages] == [None, "page-2", "page-3"]
    assert all(p["MaxResults"] == 2 for p in pages)
    start = next(body for op, body in stub.requests if op == "StartQueryExecution")
    assert start["ResultConfiguration"] == {"OutputLocation": "s3://athena-results/sentinel/"}
    assert start["WorkGroup"] == "primary"


def test_throttling_is_retried_then_named(athena_stub: tuple[StubAthena, Any]) -> None:
    stub, client = athena_stub
    throttled = {"__type": "TooManyRequestsException", "Message": "Rate exceeded"}
    stub.answer("StartQueryExecution", throttled, status=400)
    stub.answer("StartQueryExecution", {"QueryExecutionId": "q-1"})
    stub.answer(
        "GetQueryExecution",
        _execution("CANCELLED", status={"StateChangeReason": "Query cancelled by user"}),
    )
    with pytest.raises(AuditError) as err:
        list(athena_records(client, TARGET, START, END, QueryStats(), sleep=lambda _s: None))
    assert "q-1" in str(err.value) and "ended CANCELLED: Query cancelled by user" in str(err.value)
    starts = [op for op, _ in stub.requests if op == "StartQueryExecution"]
    assert len(starts) >= 2
