"""session-activity over Athena: the generated query, run for real in DuckDB, agrees with the
folder source; --plan; record values never reach the SQL unchecked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from athenahelpers import duck_table, run_audit_sql
from audithelpers import PROD_ROLE, assume_role
from test_session_activity import call, tracked

from sentinelgw.audit.activity import Matcher, SessionTarget
from sentinelgw.audit.activity_sql import activity_query, record_of_row
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import folder_events
from sentinelgw.audit.window import Window
from sentinelgw.errors import AuditError

ORG = "o-exampleorgid"
ACCOUNT = "123456789012"
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SI = "sentinel.alice.00112233aabbccdd"
KEY = "ASIASESSIONKEY0001"


def _target() -> SessionTarget:
    return SessionTarget(
        "00112233aabbccdd", "alice", "prod", PROD_ROLE, SI, (KEY,), T, T + timedelta(hours=1)
    )


def _deliver(root: Path, records: list[dict[str, Any]], day: datetime) -> None:
    from athenahelpers import deliver

    deliver(root, records, folder_day=day, account=ACCOUNT, org=ORG)


def test_athena_query_agrees_with_the_folder_source(tmp_path: Path) -> None:
    records = [
        assume_role(at=T + timedelta(seconds=1), source_identity=SI),
        call(at=T + timedelta(minutes=1), key=KEY, si=SI, resources=("arn:aws:s3:::b/k",)),
        call(at=T + timedelta(minutes=2), key=KEY, si=SI, name="PutObject", error="AccessDenied"),
        call(
            at=T + timedelta(minutes=3),
            key="ASIACHAINEDKEY0002",
            si=SI,
            role=f"arn:aws:iam::{ACCOUNT}:role/hop",
        ),
        call(at=T + timedelta(minutes=4), key="ASIAOTHERKEY000003", si="sentinel.bob.x"),
    ]
    _deliver(tmp_path, records, T)
    window = Window(T - timedelta(minutes=1), T + timedelta(hours=3))
    matcher = Matcher([_target()])
    folder = list(
        folder_events(
            tmp_path, window, ParseStats(), decode=matcher.decode_whole, parse=matcher.parse
        )
    )
    con = duckdb.connect()
    duck_table(con, tmp_path, "trail", "org", org=ORG)
    sql = activity_query("trail", "org", [SI], [KEY], window.start, window.end)
    rows = run_audit_sql(con, sql)
    athena = [matcher.parse(record_of_row(r), ParseStats()) for r in rows]
    got = [(e.kind, e.action, e.error_code, e.resources) for e in athena if e is not None]
    assert got == [(e.kind, e.action, e.error_code, e.resources) for e in folder]
    assert [k for k, *_ in got] == ["issued", "session", "session", "chained"]


@pytest.mark.parametrize(
    ("sis", "keys"),
    [
        (["sentinel.alice.x' OR 1=1 --"], []),
        ([SI], ["ASIA') OR true --"]),
    ],
)
def test_hostile_record_values_never_reach_the_sql(sis: list[str], keys: list[str]) -> None:
    with pytest.raises(AuditError, match="cannot be queried"):
        activity_query("db", "tbl", sis, keys, T, T + timedelta(hours=1))


def test_plan_prints_the_query_on_the_sessions_source_identity(
    store: Any, audit_env: dict[str, str], run_sentinel: Any
) -> None:
    sid, si = tracked(store, keys=(KEY,))
    out = run_sentinel(
        ["audit", "session-activity", sid, "--source", "athena:sentinel_audit.trail", "--plan"],
        env=audit_env,
    )
    assert out.returncode == 0, out.stderr
    assert f"useridentity.sessioncontext.sourceidentity IN ('{si}')" in out.stdout
    assert f"useridentity.accesskeyid IN ('{KEY}')" in out.stdout
    assert '"sentinel_audit"."trail"' in out.stdout and "Partitions of" in out.stdout
