"""``session-activity`` over Athena: one generated query on the sessions' SourceIdentity.

The query reads only the partitions of the window's delivery days and keeps the events whose
``useridentity.sessioncontext.sourceidentity`` is one of the sessions' (their own calls and
every chained session's), whose ``useridentity.accesskeyid`` is one of their recorded keys, or
that issued their credentials (an AssumeRole asking for their SourceIdentity). Each row is
read back into a CloudTrail record's shape and attributed by the same
:class:`~sentinelgw.audit.activity.Matcher` as a log file's records.

SourceIdentity values and access key ids come from session records, which are untrusted: only
values of the shape STS allows reach the SQL text (anything else is refused), and they are
quoted as SQL strings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.audit.athena import AthenaRunner
from sentinelgw.audit.athena_sql import DAY_FORMAT, QueryPlan, _ts, partition_days
from sentinelgw.audit.athena_table import identifier
from sentinelgw.errors import AuditError

if TYPE_CHECKING:
    from sentinelgw.audit.activity import ActivityEvent, Matcher, SessionTarget
    from sentinelgw.audit.athena import AthenaSource, QueryStats
    from sentinelgw.audit.events import ParseStats
    from sentinelgw.audit.window import Window

# STS: SourceIdentity is 2-64 characters of [\w+=,.@-]; access key ids are 16-128 [\w].
_SOURCE_IDENTITY = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
_KEY = re.compile(r"^[A-Za-z0-9]{16,128}$")

ACTIVITY_COLUMNS = (
    "event_id",
    "shared_event_id",
    "event_time",
    "event_source",
    "event_name",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "recipient_account_id",
    "identity_type",
    "identity_arn",
    "access_key_id",
    "context_source_identity",
    "caller_role_arn",
    "request_source_identity",
    "issued_key",
    "resource_arns",
)


def _quoted(values: Sequence[str], pattern: re.Pattern[str], what: str) -> str:
    for v in values:
        if not pattern.match(v):
            raise AuditError(
                f"a session record holds a {what} that cannot be queried ({v[:80]!r})",
                hint="The record was not written by Sentinel; read the activity from the "
                "log files with --source DIR or s3://... instead",
            )
    return ", ".join(f"'{v}'" for v in sorted(set(values)))


def activity_query(
    database: str,
    table: str,
    source_identities: Sequence[str],
    keys: Sequence[str],
    start: datetime,
    end: datetime,
) -> str:
    """The query over ``database.table`` for the sessions' events in [start, end] (UTC)."""
    db, tbl = identifier(database, "database"), identifier(table, "table")
    if not source_identities:
        raise AuditError("no session has a SourceIdentity to query", hint="Pass other sessions")
    sis = _quoted(source_identities, _SOURCE_IDENTITY, "SourceIdentity")
    match = [
        f"useridentity.sessioncontext.sourceidentity IN ({sis})",
        "(eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity') AND "
        f"json_extract_scalar(requestparameters, '$.sourceIdentity') IN ({sis}))",
    ]
    if keys:
        match.insert(1, f"useridentity.accesskeyid IN ({_quoted(keys, _KEY, 'access key id')})")
    first_day, last_day = partition_days(start, end)
    where = "\n     OR ".join(match)
    # Only validated names, validated values and formatted dates reach the text.
    return f"""SELECT
  eventid AS event_id,
  sharedeventid AS shared_event_id,
  eventtime AS event_time,
  eventsource AS event_source,
  eventname AS event_name,
  awsregion AS aws_region,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  errorcode AS error_code,
  recipientaccountid AS recipient_account_id,
  useridentity.type AS identity_type,
  useridentity.arn AS identity_arn,
  useridentity.accesskeyid AS access_key_id,
  useridentity.sessioncontext.sourceidentity AS context_source_identity,
  useridentity.sessioncontext.sessionissuer.arn AS caller_role_arn,
  json_extract_scalar(requestparameters, '$.sourceIdentity') AS request_source_identity,
  json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS issued_key,
  array_join(transform(resources, r -> r.arn), ' ') AS resource_arns
FROM "{db}"."{tbl}"
WHERE day BETWEEN '{first_day:{DAY_FORMAT}}' AND '{last_day:{DAY_FORMAT}}'
  AND ({where})
  AND try(from_iso8601_timestamp(eventtime)) BETWEEN from_iso8601_timestamp('{_ts(start)}')
                                               AND from_iso8601_timestamp('{_ts(end)}')
ORDER BY eventtime, eventid"""  # noqa: S608


def activity_plan(
    database: str, table: str, targets: Sequence[SessionTarget], start: datetime, end: datetime
) -> QueryPlan:
    first, last = partition_days(start, end)
    return QueryPlan(
        activity_query(
            database,
            table,
            [t.source_identity for t in targets if t.source_identity],
            [k for t in targets for k in t.access_key_ids],
            start,
            end,
        ),
        identifier(database, "database"),
        identifier(table, "table"),
        first,
        last,
    )


def record_of_row(row: dict[str, str | None]) -> dict[str, Any]:
    """A result row in a CloudTrail record's shape (what the matcher reads)."""
    r = {k: (v or None) for k, v in row.items()}
    return {
        "eventID": r.get("event_id"),
        "sharedEventID": r.get("shared_event_id"),
        "eventTime": r.get("event_time"),
        "eventSource": r.get("event_source"),
        "eventName": r.get("event_name"),
        "awsRegion": r.get("aws_region"),
        "sourceIPAddress": r.get("source_ip"),
        "userAgent": r.get("user_agent"),
        "errorCode": r.get("error_code"),
        "recipientAccountId": r.get("recipient_account_id"),
        "userIdentity": {
            "type": r.get("identity_type"),
            "arn": r.get("identity_arn"),
            "accessKeyId": r.get("access_key_id"),
            "sessionContext": {
                "sourceIdentity": r.get("context_source_identity"),
                "sessionIssuer": {"arn": r.get("caller_role_arn")},
            },
        },
        "resources": [{"ARN": a} for a in (r.get("resource_arns") or "").split() if a],
        "requestParameters": {"sourceIdentity": r.get("request_source_identity")},
        "responseElements": {"credentials": {"accessKeyId": r.get("issued_key")}},
    }


def athena_activity(
    client: Any,
    source: AthenaSource,
    matcher: Matcher,
    window: Window,
    stats: ParseStats,
    query: QueryStats,
    *,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[ActivityEvent]:
    t = source.target
    runner = AthenaRunner(client, t, source.polling, sleep=sleep, clock=clock, progress=progress)
    targets = list(matcher.targets.values())
    sql = activity_plan(t.database, t.table, targets, window.start, window.end).sql
    where = f"athena:{t.database}.{t.table}"
    for index, row in enumerate(runner.run(sql, query, ACTIVITY_COLUMNS)):
        event = matcher.parse(record_of_row(row), stats, where=where, index=index)
        if event is not None and window.contains(event.event_time):
            stats.add(events=1)
            yield event
