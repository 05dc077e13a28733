"""``sentinel audit athena-ddl``, run as the installed command (the sandbox for ``--apply``)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import sqlglot

from conftest import sandbox_client
from sentinelgw.audit.athena_sql import TrailLocation, create_database_sql, create_table_sql

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
    athena = sandbox_client(sandbox, "athena")
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
