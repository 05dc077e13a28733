"""``sentinel audit athena-ddl``, run as the installed command (the sandbox for ``--apply``)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import sqlglot
from athenahelpers import athena_client, slowed_athena

from sentinelgw.audit.athena_table import TrailLocation, create_database_sql, create_table_sql

Run = Callable[..., subprocess.CompletedProcess[str]]
ORG = "o-a1b2c3d4e5"
ARGS = [
    "audit",
    "athena-ddl",
    "--bucket",
    "org-trail",
    "--prefix",
    "ct",
    "--org-id",
    ORG,
    "--accounts",
    "111111111111,222222222222",
    "--accounts",
    "333333333333",
    "--regions",
    "us-east-1,eu-west-1",
    "--database",
    "sec",
    "--table",
    "trail",
]


def test_prints_the_database_and_table_statements(run_sentinel: Run) -> None:
    res = run_sentinel(ARGS)
    assert res.returncode == 0, res.stderr
    statements = [s.strip() for s in res.stdout.split(";\n") if s.strip()]
    expected_table = create_table_sql(
        "sec",
        "trail",
        TrailLocation("org-trail", "ct", ORG),
        ["111111111111", "222222222222", "333333333333"],
        ["us-east-1", "eu-west-1"],
    )
    assert statements == [create_database_sql("sec"), expected_table]
    assert "'projection.account.values'='111111111111,222222222222,333333333333'" in res.stdout
    for sql in statements:
        sqlglot.parse_one(sql, read="hive")  # each statement parses on its own


@pytest.mark.parametrize(
    "change,needle",
    [
        (["--org-id", "org1"], "--org-id 'org1' is not an organisation id"),
        (["--accounts", "12"], "--accounts: '12' is not a 12-digit account id"),
        (["--regions", "moon"], "--regions: 'moon' is not a region name"),
        (["--database", "sec-db"], "database 'sec-db' is not a valid Athena name"),
        (["--bucket", "s3://org-trail"], "--bucket 's3://org-trail' is not an S3 bucket name"),
    ],
)
def test_bad_values_are_usage_errors(run_sentinel: Run, change: list[str], needle: str) -> None:
    args = list(ARGS)
    i = args.index(change[0])
    args[i + 1] = change[1]
    res = run_sentinel(args)
    assert res.returncode == 2
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_a_missing_required_option_is_exit_2(run_sentinel: Run) -> None:
    res = run_sentinel(["audit", "athena-ddl", "--bucket", "b-1", "--org-id", ORG])
    assert res.returncode == 2 and "--accounts" in res.stderr


def test_apply_runs_both_statements_through_athena(
    run_sentinel: Run, sandbox: Any, audit_env: dict[str, str]
) -> None:
    athena = athena_client(sandbox)
    before = set(athena.list_query_executions()["QueryExecutionIds"])
    res = run_sentinel(
        [*ARGS, "--apply", "--athena-output", "s3://athena-results/ddl/"], env=audit_env
    )
    assert res.returncode == 0, res.stderr
    assert "sentinel audit untracked-sessions --source athena:sec.trail" in res.stdout
    new = [
        athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]
        for q in athena.list_query_executions()["QueryExecutionIds"]
        if q not in before
    ]
    assert sorted(q["Query"].split(" ", 2)[1] for q in new) == ["DATABASE", "EXTERNAL"]
    assert all(q["Status"]["State"] == "SUCCEEDED" for q in new)
    assert all(
        q["ResultConfiguration"]["OutputLocation"].startswith("s3://athena-results/ddl/")
        for q in new
    )
    db = athena.get_database(CatalogName="AwsDataCatalog", DatabaseName="sec")["Database"]
    assert db["Name"] == "sec"


def test_apply_names_an_unknown_workgroup(run_sentinel: Run, audit_env: dict[str, str]) -> None:
    res = run_sentinel([*ARGS, "--apply", "--athena-workgroup", "nosuch"], env=audit_env)
    assert res.returncode == 2
    assert "workgroup 'nosuch'" in res.stderr and "Traceback" not in res.stderr


# --- the Athena options of the audit commands ----------------------------------------------


def test_athena_settings_parse_the_source_and_options() -> None:
    from sentinelgw.cli.athena_cmd import athena_settings

    s = athena_settings("athena:Security.Org_Trail", "audit-wg", "s3://results/x/", "45m", True)
    assert s is not None
    assert (s.target.database, s.target.table, s.target.workgroup, s.target.output) == (
        "security",
        "org_trail",
        "audit-wg",
        "s3://results/x/",
    )
    assert s.polling.timeout == 45 * 60 and s.plan
    default = athena_settings("athena:db.t", None, None, None, False)
    assert default is not None and default.target.workgroup == "primary"
    assert default.target.output is None and default.polling.timeout == 1800
    assert athena_settings("s3://bucket/logs", None, None, None, False) is None


@pytest.mark.parametrize(
    "args,needle",
    [
        (("s3://bucket/x", "wg", None, None, False), "--athena-workgroup only apply to"),
        ((None, None, None, None, True), "--plan only apply to"),
        (("./logs", None, "s3://r/", "5m", False), "--athena-output, --athena-timeout only apply"),
        (("athena:db.t", "bad wg!", None, None, False), "is not a workgroup name"),
        (("athena:db.t", None, "results/x", None, False), "is not an s3:// location"),
        (("athena:db.t", None, None, "soon", False), "--athena-timeout"),
        (("athena:db", None, None, None, False), "names no table"),
    ],
)
def test_athena_settings_refuse_what_does_not_fit(args: tuple[Any, ...], needle: str) -> None:
    from sentinelgw.cli.athena_cmd import athena_settings
    from sentinelgw.errors import UsageError

    with pytest.raises(UsageError) as err:
        athena_settings(*args)
    assert needle in str(err.value)


def test_show_plan_prints_the_sql_and_the_partitions() -> None:
    from datetime import UTC, datetime

    from sentinelgw.audit.athena_sql import audit_query
    from sentinelgw.cli.athena_cmd import athena_settings, show_plan

    s = athena_settings("athena:db.trail", "wg1", None, None, True)
    assert s is not None
    start, end = datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 10, 31, 6, tzinfo=UTC)
    text = show_plan(s, start, end)
    assert "-- Partitions of db.trail: day 2025/10/01 to 2025/11/01 (32 days)" in text
    assert "-- Runs in workgroup wg1, results to the workgroup's result location" in text
    assert text.endswith(audit_query("db", "trail", start, end) + ";\n")


def test_scanned_cost_follows_athenas_billing() -> None:
    from sentinelgw.audit.athena import format_bytes, scanned_cost

    assert scanned_cost(0) == scanned_cost(10_000_000) == pytest.approx(5 * 10 / 1e6)
    assert scanned_cost(10_000_001) == pytest.approx(5 * 11 / 1e6)
    assert scanned_cost(10**12) == pytest.approx(5.0)
    assert format_bytes(999) == "999 B" and format_bytes(123_456_789) == "123.46 MB"


# --- the audit commands with --source athena:… ----------------------------------------------

SINCE, UNTIL = "2025-11-01T00:00:00Z", "2025-11-03T12:00:00Z"
ON_ATHENA = ["--since", SINCE, "--until", UNTIL, "--source", "athena:sec.trail"]


@pytest.mark.parametrize("command", ["untracked-sessions", "session-compliance"])
def test_plan_prints_the_sql_and_runs_nothing(
    run_sentinel: Run, sandbox: Any, audit_env: dict[str, str], command: str
) -> None:
    from datetime import UTC, datetime

    from sentinelgw.audit.athena_sql import audit_query

    athena = athena_client(sandbox)
    before = athena.list_query_executions()["QueryExecutionIds"]
    res = run_sentinel(
        ["audit", command, *ON_ATHENA, "--athena-workgroup", "audit-wg", "--plan"],
        env=audit_env,
    )
    assert res.returncode == 0, res.stderr
    start, end = datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 11, 3, 12, tzinfo=UTC)
    assert "-- Partitions of sec.trail: day 2025/11/01 to 2025/11/04 (4 days)" in res.stdout
    assert "-- Runs in workgroup audit-wg" in res.stdout
    assert res.stdout.rstrip().endswith(audit_query("sec", "trail", start, end) + ";")
    assert athena.list_query_executions()["QueryExecutionIds"] == before


def test_plan_without_an_athena_source_is_a_usage_error(run_sentinel: Run) -> None:
    res = run_sentinel(["audit", "untracked-sessions", "--source", "./logs", "--plan"])
    assert res.returncode == 2
    assert "--plan only apply to --source athena:DATABASE.TABLE" in res.stderr


def test_a_query_that_does_not_finish_is_exit_2_never_no_gaps(
    run_sentinel: Run, sandbox: Any, audit_env: dict[str, str]
) -> None:
    with slowed_athena(sandbox) as slow:
        slow(1000)
        res = run_sentinel(
            [
                "audit",
                "untracked-sessions",
                *ON_ATHENA,
                "--athena-timeout",
                "2s",
                "--format",
                "json",
            ],
            env=audit_env,
        )
    assert res.returncode == 2
    assert res.stdout == ""
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("sentinel: error: Athena query ")
    assert "in workgroup 'primary' did not finish within 2 s" in line
    query_id = line.split("Athena query ", 1)[1].split(" ", 1)[0]
    state = athena_client(sandbox).get_query_execution(QueryExecutionId=query_id)
    assert state["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_an_unknown_workgroup_is_exit_2_naming_it(
    run_sentinel: Run, audit_env: dict[str, str]
) -> None:
    res = run_sentinel(
        ["audit", "session-compliance", *ON_ATHENA, "--athena-workgroup", "nosuch"],
        env=audit_env,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert "workgroup 'nosuch'" in res.stderr and "Traceback" not in res.stderr
