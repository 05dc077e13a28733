"""The Athena audit's SQL, executed for real: DuckDB over log files laid out as in S3.

The query is generated in Athena's (Trino) dialect, transpiled with sqlglot and run on a DuckDB
view that declares the same table as ``sentinel audit athena-ddl`` (see athenahelpers.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from athenahelpers import (
    ACCT_A,
    ACCT_B,
    ORG,
    deliver,
    duck_table,
    noise,
    run_audit_sql,
    sts_event,
)
from sqlglot import exp

from sentinelgw.audit.athena_sql import (
    ISSUANCE_EVENTS,
    RESULT_COLUMNS,
    AthenaRecord,
    RowError,
    audit_query,
    plan,
    record_from_row,
)

T0 = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(hours=6)
SID = "sentinel.alice.0123456789abcdef"


def run(root: Path, start: datetime = START, end: datetime = END) -> list[AthenaRecord]:
    con = duckdb.connect()
    duck_table(con, root, "trail", "org")
    rows = run_audit_sql(con, audit_query("trail", "org", start, end))
    return [record_from_row(r) for r in rows]


def total(records: list[AthenaRecord], **match: Any) -> int:
    out = 0
    for r in records:
        if all(r.record.get(k) == v for k, v in match.items()):
            out += r.count
    return out


# --- the query's shape --------------------------------------------------------------------


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node] if node is not None else []


def test_every_scan_of_the_table_constrains_the_day_partition() -> None:
    start = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    end = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    tree = sqlglot.parse_one(audit_query("db", "trail", start, end), read="athena")
    scans = [t for t in tree.find_all(exp.Table) if t.name == "trail"]
    assert scans
    for scan in scans:
        select = scan.find_ancestor(exp.Select)
        assert select is not None
        where = select.args.get("where")
        days = [
            c
            for c in _conjuncts(where.this if where else None)
            if isinstance(c, exp.Between) and c.this.name == "day"
        ]
        assert [(d.args["low"].name, d.args["high"].name) for d in days] == [
            ("2025/12/31", "2026/01/03")
        ]


def test_plan_names_the_days_it_reads() -> None:
    p = plan(
        "db", "trail", datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 11, 30, 23, tzinfo=UTC)
    )
    assert (p.first_day.isoformat(), p.last_day.isoformat(), p.days) == (
        "2025-11-01",
        "2025-12-01",
        31,
    )
    assert "2025/11/01 to 2025/12/01 (31 days)" in p.describe()
    assert p.sql == audit_query(
        "db", "trail", datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 11, 30, 23, tzinfo=UTC)
    )


def test_result_columns_are_the_documented_contract(tmp_path: Path) -> None:
    deliver(tmp_path, [sts_event(at=T0, source_identity=SID), sts_event(at=T0)], folder_day=T0)
    con = duckdb.connect()
    duck_table(con, tmp_path, "trail", "org")
    from athenahelpers import to_duckdb

    cur = con.execute(to_duckdb(audit_query("trail", "org", START, END)))
    assert tuple(d[0] for d in cur.description) == RESULT_COLUMNS


# --- executed in DuckDB -------------------------------------------------------------------


def test_sentinel_identities_are_rows_and_the_rest_is_counted(tmp_path: Path) -> None:
    other = "sentinel.bob.fedcba9876543210"
    recs = [sts_event(at=T0 + timedelta(minutes=i), source_identity=SID) for i in range(3)]
    recs += [sts_event(at=T0, chained=other)]
    recs += [sts_event(at=T0 + timedelta(minutes=i)) for i in range(5)]
    recs += [sts_event(at=T0, source_identity="alice@corp") for _ in range(2)]
    recs += [noise(T0) for _ in range(4)]
    deliver(tmp_path, recs, folder_day=T0)
    out = run(tmp_path)
    singles = [r for r in out if not r.aggregated]
    assert sorted(
        (r.record["requestParameters"] or {}).get("sourceIdentity")
        or r.record["userIdentity"]["sessionContext"]["sourceIdentity"]
        for r in singles
    ) == sorted([SID] * 3 + [other])
    assert all(r.count == 1 and r.record["eventTime"] for r in singles)
    plain = [
        r
        for r in out
        if r.aggregated and "sourceIdentity" not in (r.record["requestParameters"] or {})
    ]
    assert [r.count for r in plain] == [5]
    assert plain[0].record["requestParameters"]["roleArn"].endswith(":role/prod")
    assert total(out) == 3 + 1 + 5 + 2  # noise is not read


def test_all_six_issuance_events_and_only_those(tmp_path: Path) -> None:
    recs = [sts_event(name, at=T0) for name in ISSUANCE_EVENTS]
    recs.append({**sts_event(at=T0), "eventName": "GetCallerIdentity"})
    recs.append({**sts_event(at=T0), "eventSource": "iam.amazonaws.com"})
    deliver(tmp_path, recs, folder_day=T0)
    out = run(tmp_path)
    assert sorted(r.record["eventName"] for r in out) == sorted(ISSUANCE_EVENTS)
    fed = next(r for r in out if r.record["eventName"] == "GetFederationToken")
    assert fed.record["requestParameters"] == {}  # `name` is per event, not grouped
    saml = next(r for r in out if r.record["eventName"] == "AssumeRoleWithSAML")
    assert saml.record["userIdentity"] == {"type": "SAMLUser", "userName": "alice"}


def test_failed_calls_keep_their_error_and_null_parameters(tmp_path: Path) -> None:
    deliver(
        tmp_path,
        [
            sts_event(at=T0, error="AccessDenied"),
            sts_event(at=T0, error="AccessDenied"),
            sts_event(at=T0, error="ExpiredToken", source_identity=SID),
        ],
        folder_day=T0,
    )
    out = run(tmp_path)
    denied = [r for r in out if r.record["errorCode"] == "AccessDenied"]
    assert [(r.count, r.record["requestParameters"]) for r in denied] == [(2, None)]
    expired = [r for r in out if r.record["errorCode"] == "ExpiredToken"]
    assert len(expired) == 1 and expired[0].record["requestParameters"] is None


def test_aws_service_callers_keep_type_and_invoked_by(tmp_path: Path) -> None:
    deliver(
        tmp_path,
        [sts_event(at=T0, service="lambda.amazonaws.com") for _ in range(3)]
        + [sts_event(at=T0, service="ec2.amazonaws.com")],
        folder_day=T0,
    )
    out = run(tmp_path)
    got = sorted((r.record["userIdentity"]["invokedBy"], r.count) for r in out)
    assert got == [("ec2.amazonaws.com", 1), ("lambda.amazonaws.com", 3)]
    assert all(r.record["userIdentity"]["type"] == "AWSService" for r in out)


def test_cross_account_copies_count_once_and_carry_both_accounts(tmp_path: Path) -> None:
    role_b = f"arn:aws:iam::{ACCT_B}:role/prod"
    for acct in (ACCT_A, ACCT_B):
        deliver(
            tmp_path,
            [
                sts_event(
                    at=T0,
                    role_arn=role_b,
                    event_id="e-1",
                    shared="s-1",
                    recipient=acct,
                    source_identity=SID,
                ),
                sts_event(at=T0, role_arn=role_b, event_id="e-2", shared="s-2", recipient=acct),
            ],
            folder_day=T0,
            account=acct,
        )
    out = run(tmp_path)
    assert total(out) == 2
    single = next(r for r in out if not r.aggregated)
    assert single.accounts == (ACCT_A, ACCT_B)
    assert single.record["recipientAccountId"] == ACCT_A
    agg = next(r for r in out if r.aggregated)
    assert (agg.count, agg.accounts) == (1, (ACCT_A, ACCT_B))


def test_a_file_delivered_twice_counts_once(tmp_path: Path) -> None:
    recs = [sts_event(at=T0, source_identity=SID), sts_event(at=T0)]
    deliver(tmp_path, recs, folder_day=T0)
    deliver(tmp_path, recs, folder_day=T0)
    assert total(run(tmp_path)) == 2


def test_the_window_is_applied_to_event_time(tmp_path: Path) -> None:
    inside = [sts_event(at=START), sts_event(at=END), sts_event(at=T0, source_identity=SID)]
    outside = [
        sts_event(at=START - timedelta(seconds=1)),
        sts_event(at=END + timedelta(seconds=1), source_identity=SID),
    ]
    deliver(tmp_path, inside[:1] + outside[:1], folder_day=START)
    deliver(tmp_path, inside[1:] + outside[1:], folder_day=T0)
    out = run(tmp_path)
    assert total(out) == 3
    assert [r.record["eventTime"] for r in out if not r.aggregated] == ["2025-11-03T12:00:00Z"]


def test_only_the_windows_delivery_days_are_read(tmp_path: Path) -> None:
    # Files in folders outside [start day, end day + 1] are never read, even if (as a
    # late or replayed delivery) they hold events inside the window: the partition
    # predicate is what limits the scan. The last minutes of the window may sit in the
    # next day's folder, which is read.
    late = END - timedelta(minutes=2)
    deliver(tmp_path, [sts_event(at=T0)], folder_day=T0)
    deliver(tmp_path, [sts_event(at=late)], folder_day=END + timedelta(days=1))
    deliver(tmp_path, [sts_event(at=T0)], folder_day=END + timedelta(days=2))
    deliver(tmp_path, [sts_event(at=T0)], folder_day=START - timedelta(days=1))
    assert total(run(tmp_path)) == 2


def test_unparseable_event_times_are_returned_to_be_counted_malformed(tmp_path: Path) -> None:
    bad = {**sts_event(at=T0), "eventTime": "yesterday"}
    no_id = sts_event(at=T0)
    del no_id["eventID"]
    deliver(tmp_path, [bad, no_id, sts_event(at=T0)], folder_day=T0)
    out = run(tmp_path)
    assert sorted((r.record["eventTime"], r.record["eventID"] is None, r.count) for r in out) == [
        ("2025-11-03T12:00:00Z", False, 1),
        ("2025-11-03T12:00:00Z", True, 1),
        ("yesterday", False, 1),
    ]


def test_other_org_and_digest_folders_are_not_part_of_the_table(tmp_path: Path) -> None:
    deliver(tmp_path, [sts_event(at=T0)], folder_day=T0)
    deliver(tmp_path, [sts_event(at=T0)], folder_day=T0, org="o-zzzzzzzzzz")
    digest = tmp_path / "AWSLogs" / ORG / ACCT_A / "CloudTrail-Digest" / "us-east-1"
    digest.mkdir(parents=True)
    (digest / "d.json.gz").write_bytes(b"not json")
    assert total(run(tmp_path)) == 1


# --- rows back to records -----------------------------------------------------------------


def _row(**kw: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = dict.fromkeys(RESULT_COLUMNS)
    base.update(
        row_kind="event",
        event_count="1",
        event_id="e",
        event_name="AssumeRole",
        first_time="2025-11-03T12:00:00Z",
        has_request_parameters="true",
        role_arn="arn:aws:iam::111111111111:role/prod",
    )
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "kw", [{"row_kind": "other"}, {"event_count": "x"}, {"event_count": "0"}, {"event_count": None}]
)
def test_rows_that_do_not_have_the_querys_shape_are_refused(kw: dict[str, str | None]) -> None:
    with pytest.raises(RowError):
        record_from_row(_row(**kw))


def test_empty_strings_read_as_absent_like_nulls() -> None:
    rec = record_from_row(_row(source_identity="", accounts="", error_code=""))
    assert rec.record["errorCode"] is None and rec.accounts == ()
    assert rec.record["requestParameters"] == {"roleArn": "arn:aws:iam::111111111111:role/prod"}
