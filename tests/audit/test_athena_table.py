"""The organisation trail's table: the DDL ``sentinel audit athena-ddl`` prints, and the
validation of every value that goes into it."""

from __future__ import annotations

import pytest
import sqlglot
from athenahelpers import ORG
from sqlglot import exp

from sentinelgw.audit.athena_table import COLUMNS, TrailLocation, create_table_sql, parse_source
from sentinelgw.errors import UsageError


def test_ddl_projects_account_region_and_day_for_an_organisation_trail() -> None:
    loc = TrailLocation("org-trail", "logs/ct", ORG)
    ddl = create_table_sql("sec", "trail", loc, ["111111111111,222222222222"], ["us-east-1"])
    assert f"LOCATION 's3://org-trail/logs/ct/AWSLogs/{ORG}/'" in ddl
    assert (
        "'storage.location.template'='s3://org-trail/logs/ct/AWSLogs/"
        f"{ORG}/${{account}}/CloudTrail/${{region}}/${{day}}'"
    ) in ddl
    assert "'projection.account.values'='111111111111,222222222222'" in ddl
    assert "'projection.region.values'='us-east-1'" in ddl
    assert "'projection.day.format'='yyyy/MM/dd'" in ddl
    assert "PARTITIONED BY (account STRING, region STRING, day STRING)" in ddl
    context = ddl.split("sessioncontext: STRUCT<", 1)[1].split("webidfederationdata", 1)[0]
    assert "sourceidentity: STRING" in context


def test_ddl_parses_as_hive_with_every_column() -> None:
    ddl = create_table_sql(
        "sec", "trail", TrailLocation("b-1", "", ORG), ["111111111111"], ["eu-west-1"]
    )
    tree = sqlglot.parse_one(ddl, read="hive")
    schema = tree.find(exp.Schema)
    assert schema is not None
    names = [c.name for c in schema.expressions if isinstance(c, exp.ColumnDef)]
    assert names == [n.lower() for n, _ in COLUMNS]


@pytest.mark.parametrize(
    "kw",
    [
        {"bucket": "Bad_Bucket"},
        {"bucket": "b'; DROP"},
        {"prefix": "x' OR '1"},
        {"org_id": "o-short"},
        {"org_id": "123"},
    ],
)
def test_location_values_that_could_break_the_sql_are_refused(kw: dict[str, str]) -> None:
    args = {"bucket": "trail-bucket", "prefix": "", "org_id": ORG, **kw}
    with pytest.raises(UsageError):
        TrailLocation(**args)


@pytest.mark.parametrize(
    "accounts,regions",
    [
        (["12345"], ["us-east-1"]),
        (["111111111111'"], ["us-east-1"]),
        (["111111111111"], ["us-east-1'; --"]),
        ([], ["us-east-1"]),
        (["111111111111"], [""]),
    ],
)
def test_accounts_and_regions_are_validated(accounts: list[str], regions: list[str]) -> None:
    with pytest.raises(UsageError):
        create_table_sql("db", "t", TrailLocation("bucket", "", ORG), accounts, regions)


@pytest.mark.parametrize(
    "spec", ["athena:db", "athena:db.t-x", 'athena:db."t"', "athena:.t", "athena:db.t;drop"]
)
def test_source_names_are_validated(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_source(spec)


def test_source_names_are_lower_cased_as_athena_does() -> None:
    assert parse_source("athena:Sec_Audit.Org_Trail") == ("sec_audit", "org_trail")
