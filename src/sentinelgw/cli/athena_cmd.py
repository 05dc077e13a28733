"""``sentinel audit athena-ddl``, and the Athena options of the two audit commands.

``athena_options`` adds ``--athena-workgroup``, ``--athena-output``, ``--athena-timeout`` and
``--plan`` to a command; ``athena_settings`` checks them against ``--source`` and returns the
:class:`~sentinelgw.audit.athena.AthenaTarget` and :class:`~sentinelgw.audit.athena.Polling`
to run with (None when the source is not Athena). ``show_plan`` renders ``--plan``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click

from sentinelgw.audit.athena import (
    DEFAULT_WORKGROUP,
    PRICE_PER_TB,
    AthenaRunner,
    AthenaTarget,
    Polling,
    QueryStats,
    format_bytes,
    scanned_cost,
)
from sentinelgw.audit.athena_sql import plan
from sentinelgw.audit.athena_table import (
    TrailLocation,
    create_database_sql,
    create_table_sql,
    parse_source,
)
from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.errors import UsageError
from sentinelgw.timeutil import iso, parse_duration

ATHENA_PREFIX = "athena:"
_WORKGROUP = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class AthenaSettings:
    """The Athena source as parsed from the command line."""

    target: AthenaTarget
    polling: Polling
    plan: bool


def athena_options(fn: Any) -> Any:
    """The options of ``--source athena:DATABASE.TABLE``."""
    opts = [
        click.option(
            "--athena-workgroup",
            metavar="NAME",
            default=None,
            help="Athena workgroup for --source athena:… (default: primary).",
        ),
        click.option(
            "--athena-output",
            metavar="S3URL",
            default=None,
            help="s3://bucket/prefix/ for Athena's query results (default: the "
            "workgroup's result location).",
        ),
        click.option(
            "--athena-timeout",
            metavar="DURATION",
            default=None,
            help="Give up on (and cancel) the Athena query after this long (default 30m).",
        ),
        click.option(
            "--plan",
            is_flag=True,
            default=False,
            help="With --source athena:…, print the SQL and the partitions it "
            "reads, and run nothing.",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def is_athena(source: str | None) -> bool:
    return bool(source) and str(source).startswith(ATHENA_PREFIX)


def athena_settings(
    source: str | None,
    athena_workgroup: str | None = None,
    athena_output: str | None = None,
    athena_timeout: str | None = None,
    plan: bool = False,
) -> AthenaSettings | None:
    """The Athena source, or None; a usage error for Athena options without it.

    The keyword names are those of :func:`athena_options`' parameters.
    """
    workgroup, output, timeout = athena_workgroup, athena_output, athena_timeout

    if not is_athena(source):
        given = [
            name
            for name, value in (
                ("--athena-workgroup", workgroup),
                ("--athena-output", output),
                ("--athena-timeout", timeout),
                ("--plan", plan),
            )
            if value
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} only apply to --source athena:DATABASE.TABLE",
                hint="Add --source athena:DATABASE.TABLE, or drop them",
            )
        return None

    assert source is not None
    database, table = parse_source(source)
    wg = workgroup or DEFAULT_WORKGROUP
    if not _WORKGROUP.match(wg):
        raise UsageError(
            f"--athena-workgroup {wg!r} is not a workgroup name",
            hint="Use letters, digits, '.', '_' and '-' (at most 128)",
        )
    if output is not None and (not output.startswith("s3://") or len(output) <= len("s3://")):
        raise UsageError(
            f"--athena-output {output!r} is not an s3:// location",
            hint="For example --athena-output s3://my-athena-results/sentinel/",
        )
    polling = Polling()
    if timeout is not None:
        seconds = parse_duration(timeout, what="--athena-timeout").total_seconds()
        if seconds <= 0:
            raise UsageError("--athena-timeout must be positive", hint="For example 30m")
        polling = Polling(timeout=seconds)
    target = AthenaTarget(database=database, table=table, workgroup=wg, output=output)
    return AthenaSettings(target=target, polling=polling, plan=plan)


def show_plan(settings: AthenaSettings, start: datetime, end: datetime) -> str:
    """The text of ``--plan``: where it would run, the partitions, and the SQL."""
    p = plan(settings.target.database, settings.target.table, start, end)
    out = settings.target.output or "the workgroup's result location"
    return (
        f"-- Window: {iso(start)} to {iso(end)}\n"
        f"-- {p.describe()}\n"
        f"-- Runs in workgroup {settings.target.workgroup}, results to {out}\n"
        f"{p.sql};\n"
    )


def scanned_line(stats: QueryStats) -> str:
    """One stderr line: the query id and what it scanned (and cost, at the list price)."""
    return (
        f"sentinel: Athena query {stats.query_id} in workgroup {stats.workgroup} scanned "
        f"{format_bytes(stats.bytes_scanned)} (about ${scanned_cost(stats.bytes_scanned):.4f}"
        f" at ${PRICE_PER_TB:g}/TB), {stats.rows} result rows"
    )


@click.command("athena-ddl")
@click.option("--bucket", required=True, metavar="NAME", help="The trail's S3 bucket.")
@click.option(
    "--prefix", default="", metavar="PREFIX", help="The trail's S3 key prefix, if it has one."
)
@click.option("--org-id", required=True, metavar="O-ID", help="The organisation id (o-…).")
@click.option(
    "--accounts",
    multiple=True,
    required=True,
    metavar="IDS",
    help="Account ids to project, comma-separated or repeated.",
)
@click.option(
    "--regions",
    multiple=True,
    required=True,
    metavar="REGIONS",
    help="Regions to project, comma-separated or repeated.",
)
@click.option(
    "--database",
    default="sentinel_audit",
    show_default=True,
    metavar="NAME",
    help="Athena (Glue) database.",
)
@click.option(
    "--table", default="cloudtrail_org", show_default=True, metavar="NAME", help="Table name."
)
@click.option("--apply", is_flag=True, help="Run the statements through Athena and wait.")
@click.option(
    "--athena-workgroup",
    metavar="NAME",
    default=None,
    help="Workgroup for --apply (default: primary).",
)
@click.option(
    "--athena-output",
    metavar="S3URL",
    default=None,
    help="s3:// location for --apply's results (default: the workgroup's).",
)
@common_options
@pass_app
def athena_ddl(
    app: App,
    bucket: str,
    prefix: str,
    org_id: str,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    database: str,
    table: str,
    apply: bool,
    athena_workgroup: str | None,
    athena_output: str | None,
) -> int:
    """The Athena table over an organisation trail, with partition projection."""
    location = TrailLocation(bucket=bucket, prefix=prefix, org_id=org_id)
    statements = [
        create_database_sql(database),
        create_table_sql(database, table, location, accounts, regions),
    ]
    if not apply:
        click.echo("\n\n".join(f"{s};" for s in statements))
        return 0

    settings = athena_settings(
        f"{ATHENA_PREFIX}{database}.{table}", athena_workgroup, athena_output, None, False
    )
    assert settings is not None
    # The statements name the database themselves; the context only has to exist.
    target = replace(settings.target, database="default")
    runner = AthenaRunner(app.client("athena", app.region()[0]), target, settings.polling)
    for sql in statements:
        stats = QueryStats(workgroup=target.workgroup)
        query_id = runner.start(sql)
        stats.query_id = query_id
        runner.wait(query_id, stats)
        click.echo(f"{sql.split('(', 1)[0].strip()}: done (query {query_id})", err=True)
    click.echo(
        f"Table {location.url} -> {database}.{table} is ready; audit it with "
        f"'sentinel audit untracked-sessions --source athena:{database}.{table}'"
    )
    return 0
