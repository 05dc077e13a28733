"""Running one Athena query to the end: start, poll with backoff, time out, page the results.

The audit is a security gate, so this module fails closed: a query that ends FAILED or
CANCELLED, that does not finish in time, or whose results do not have the expected columns
raises :class:`~sentinelgw.errors.AuditError` (exit 2) naming the workgroup, the query id and
Athena's reason. It never returns an empty result in place of one it could not read.

A query this module started and then gave up on (time-out, Ctrl-C) is stopped, so it does not
go on scanning, and being billed, on its own.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.audit.athena_sql import (
    RESULT_COLUMNS,
    AthenaRecord,
    RowError,
    audit_query,
    record_from_row,
)
from sentinelgw.audit.athena_table import parse_source
from sentinelgw.audit.events import parse_record
from sentinelgw.awserrors import aws_call
from sentinelgw.errors import AuditError

if TYPE_CHECKING:
    from sentinelgw.audit.events import IssuanceEvent, ParseStats
    from sentinelgw.audit.window import Window

DEFAULT_WORKGROUP = "primary"
_TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
_THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException"}


@dataclass(frozen=True, slots=True)
class AthenaTarget:
    """Where and how the query runs.

    ``output`` is the ``s3://`` location for results; None uses the workgroup's own setting
    (an error from Athena if the workgroup has none).
    """

    database: str
    table: str
    workgroup: str = DEFAULT_WORKGROUP
    output: str | None = None
    catalog: str = "AwsDataCatalog"


@dataclass(frozen=True, slots=True)
class Polling:
    """How long to wait between GetQueryExecution calls, and for how long in total."""

    first_delay: float = 0.5
    max_delay: float = 5.0
    timeout: float = 1800.0  # Athena's own default limit for a DML query is 30 minutes
    page_size: int = 1000  # GetQueryResults' maximum


@dataclass(frozen=True, slots=True)
class AthenaSource:
    """``--source athena:DATABASE.TABLE`` with its workgroup, output and polling."""

    target: AthenaTarget
    polling: Polling = Polling()


def athena_source(spec: str) -> AthenaSource:
    """The source of ``athena:DATABASE.TABLE`` with default workgroup and polling."""

    database, table = parse_source(spec)
    return AthenaSource(AthenaTarget(database=database, table=table))


@dataclass
class QueryStats:
    """What one query cost and how it went; filled in as it runs."""

    query_id: str | None = None
    workgroup: str = DEFAULT_WORKGROUP
    state: str | None = None
    bytes_scanned: int = 0
    engine_ms: int = 0
    polls: int = 0
    pages: int = 0
    rows: int = 0
    output: str | None = None
    columns: list[str] = field(default_factory=list)


def _one_line(text: Any, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class AthenaRunner:
    """Runs queries with one Athena client; ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        client: Any,
        target: AthenaTarget,
        polling: Polling = Polling(),
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.polling = polling
        self.sleep = sleep
        self.clock = clock
        self.progress = progress

    # -- errors ------------------------------------------------------------------------

    def describe(self, query_id: str | None) -> str:
        """'Athena query <id> in workgroup <wg>', for messages."""
        wg = f"workgroup {self.target.workgroup!r}"
        return f"Athena query {query_id} in {wg}" if query_id else f"Athena ({wg})"

    def _call(self, operation: str, query_id: str | None, fn: Callable[[], Any]) -> Any:
        """One API call through the AWS error boundary (failures are AuditError), retried on
        throttling."""
        attempt = 0
        while True:
            try:
                with aws_call("athena", operation, self.describe(query_id), raises=AuditError):
                    return fn()
            except AuditError as exc:
                if exc.aws_code in _THROTTLE_CODES and attempt < 5:
                    self.sleep(min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
                    attempt += 1
                    continue
                exc.hint = exc.hint or _HINT
                raise

    # -- the run -----------------------------------------------------------------------

    def start(self, sql: str) -> str:
        params: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {
                "Database": self.target.database,
                "Catalog": self.target.catalog,
            },
            "WorkGroup": self.target.workgroup,
        }
        if self.target.output:
            params["ResultConfiguration"] = {"OutputLocation": self.target.output}
        resp = self._call(
            "StartQueryExecution", None, lambda: self.client.start_query_execution(**params)
        )
        query_id = resp.get("QueryExecutionId") if isinstance(resp, dict) else None
        if not isinstance(query_id, str) or not query_id:
            raise AuditError(
                f"{self.describe(None)}: StartQueryExecution returned no query id", hint=_HINT
            )
        return query_id

    def wait(self, query_id: str, stats: QueryStats) -> dict[str, Any]:
        """Poll until the query ends; the final QueryExecution. Raises unless SUCCEEDED."""
        deadline = self.clock() + self.polling.timeout
        delay = self.polling.first_delay
        while True:
            resp = self._call(
                "GetQueryExecution",
                query_id,
                lambda: self.client.get_query_execution(QueryExecutionId=query_id),
            )
            stats.polls += 1
            execution = resp.get("QueryExecution") or {}
            status = execution.get("Status") or {}
            state = str(status.get("State") or "")
            stats.state = state
            _read_statistics(execution, stats)
            if state in _TERMINAL:
                break
            if self.progress is not None:
                self.progress(f"Athena query {query_id}: {state or 'starting'}")
            left = deadline - self.clock()
            if left <= 0:
                self.stop(query_id)
                raise AuditError(
                    f"{self.describe(query_id)} did not finish within "
                    f"{self.polling.timeout:g} s (last state {state or 'unknown'}); "
                    "it was cancelled",
                    hint="Raise --athena-timeout, or narrow the window with --since/--until",
                )
            self.sleep(min(delay, left))
            delay = min(self.polling.max_delay, delay * 2)
        if state != "SUCCEEDED":
            raise AuditError(
                f"{self.describe(query_id)} ended {state}: {_reason(status)}", hint=_HINT
            )
        return dict(execution)

    def stop(self, query_id: str) -> None:
        """Best effort: a query we no longer wait for must not go on scanning."""
        try:
            self.client.stop_query_execution(QueryExecutionId=query_id)
        except Exception:  # noqa: S110 - already failing; the original error matters more
            pass

    def rows(
        self, query_id: str, stats: QueryStats, expected: Sequence[str] | None = None
    ) -> Iterator[dict[str, str | None]]:
        """The result rows as {column: text or None}, page by page; the header row skipped."""
        token: str | None = None
        names: list[str] | None = None
        first_page = True
        while True:
            params: dict[str, Any] = {
                "QueryExecutionId": query_id,
                "MaxResults": self.polling.page_size,
            }
            if token:
                params["NextToken"] = token
            resp = self._call(
                "GetQueryResults",
                query_id,
                functools.partial(self.client.get_query_results, **params),
            )
            stats.pages += 1
            result = resp.get("ResultSet") or {}
            if names is None:
                info = (result.get("ResultSetMetadata") or {}).get("ColumnInfo") or []
                names = [str(c.get("Name", "")) for c in info]
                stats.columns = names
                if expected is not None and names != list(expected):
                    raise AuditError(
                        f"{self.describe(query_id)} returned the columns "
                        f"{', '.join(names) or '(none)'}, not the audit query's",
                        hint="Run the query Sentinel prints with --plan, unchanged",
                    )
            page = result.get("Rows") or []
            for i, row in enumerate(page):
                values = [
                    d.get("VarCharValue") if isinstance(d, dict) else None
                    for d in (row.get("Data") or [])
                ]
                if first_page and i == 0 and values == names:
                    continue  # Athena repeats the column names as the first row of a SELECT
                if len(values) != len(names):
                    raise AuditError(
                        f"{self.describe(query_id)}: a result row has "
                        f"{len(values)} values for {len(names)} columns",
                        hint=_HINT,
                    )
                stats.rows += 1
                yield dict(zip(names, values, strict=True))
            first_page = False
            token = resp.get("NextToken")
            if not token:
                return

    def run(
        self, sql: str, stats: QueryStats, expected: Sequence[str] | None = None
    ) -> Iterator[dict[str, str | None]]:
        """Start ``sql``, wait for it, and stream its rows. Stops the query if interrupted."""
        stats.workgroup = self.target.workgroup
        query_id = self.start(sql)
        stats.query_id = query_id
        try:
            execution = self.wait(query_id, stats)
        except KeyboardInterrupt:
            self.stop(query_id)
            raise
        stats.output = (execution.get("ResultConfiguration") or {}).get("OutputLocation")
        return self.rows(query_id, stats, expected)


_HINT = (
    "Check the table (create it with 'sentinel audit athena-ddl --apply'), the "
    "workgroup's result location (--athena-output) and the caller's Athena, Glue and S3 "
    "permissions"
)


def _reason(status: dict[str, Any]) -> str:
    err = status.get("AthenaError") or {}
    parts = [status.get("StateChangeReason"), err.get("ErrorMessage")]
    text = "; ".join(dict.fromkeys(_one_line(p) for p in parts if p))
    if err.get("ErrorType") is not None:
        text += f" (error type {err.get('ErrorType')})"
    return text or "Athena gave no reason"


def _read_statistics(execution: dict[str, Any], stats: QueryStats) -> None:
    st = execution.get("Statistics") or {}
    scanned = st.get("DataScannedInBytes")
    if isinstance(scanned, int):
        stats.bytes_scanned = scanned
    engine = st.get("EngineExecutionTimeInMillis")
    if isinstance(engine, int):
        stats.engine_ms = engine


def athena_records(
    client: Any,
    target: AthenaTarget,
    start: datetime,
    end: datetime,
    stats: QueryStats,
    *,
    polling: Polling = Polling(),
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[AthenaRecord]:
    """The audit query's result for [start, end], as CloudTrail-shaped records with counts.

    The query runs (and is waited for) on the first ``next()``; a row that does not have the
    query's shape is an error, never skipped.
    """
    runner = AthenaRunner(client, target, polling, sleep=sleep, clock=clock, progress=progress)
    sql = audit_query(target.database, target.table, start, end)
    for row in runner.run(sql, stats, RESULT_COLUMNS):
        try:
            yield record_from_row(row)
        except RowError as exc:
            raise AuditError(
                f"{runner.describe(stats.query_id)} returned a row the audit cannot read: {exc}",
                hint=_HINT,
            ) from exc


def athena_events(
    client: Any,
    source: AthenaSource,
    window: Window,
    stats: ParseStats,
    query: QueryStats,
    *,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[IssuanceEvent]:
    """Issuance events of the window from the audit query, read as the other sources read
    CloudTrail records. An aggregated row becomes one event with its ``count``; a row that is
    not a valid event is counted malformed, as many times as it stands for."""
    import msgspec

    t = source.target
    where = f"athena:{t.database}.{t.table}"
    rows = athena_records(
        client,
        t,
        window.start,
        window.end,
        query,
        polling=source.polling,
        progress=progress,
        sleep=sleep,
        clock=clock,
    )
    for index, rec in enumerate(rows):
        event = parse_record(rec.record, stats, where=where, index=index)
        if event is None:
            stats.add(malformed=rec.count - 1)
            continue
        stats.add(records=rec.count)
        if window.contains(event.event_time):
            stats.add(events=rec.count)
            yield msgspec.structs.replace(
                event, count=rec.count, accounts=rec.accounts or event.accounts
            )


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1000
    return f"{n} B"  # unreachable


PRICE_PER_TB = 5.0  # US dollars per TB scanned, Athena's SQL price in most regions


def scanned_cost(n: int) -> float:
    """Athena bills at least 10 MB per query, rounded up to the next MB."""
    billed_mb = max(10, -(-n // 1_000_000))
    return billed_mb / 1_000_000 * PRICE_PER_TB
