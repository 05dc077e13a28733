"""The audit's one query over the organisation trail's table, and its rows read back.

:func:`audit_query` is the audit's query (Trino dialect, Athena engine 3). It reads only the
partitions of the window's delivery days, keeps the six STS issuance events inside the window,
counts each event once (by ``sharedEventID``, else ``eventID``, kept apart so that one
event's ``sharedEventID`` never matches another's ``eventID``; a cross-account call is delivered
to both accounts), and returns:

- one row per event that carries a SourceIdentity starting ``sentinel.`` (in the request, the
  response or the caller's session): these need the session table, and there are few of them;
- one row per group of every other event, with a count: these are classified from their fields
  alone, and the grouping keeps every field the classification reads.

:func:`record_from_row` turns a result row back into a CloudTrail record's shape, so the audit
classifies it with the same code as a record read from a log file.

Only validated names (:func:`sentinelgw.audit.athena_table.identifier`) and formatted dates
reach the SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sentinelgw.audit.athena_table import identifier
from sentinelgw.wording import counted

ISSUANCE_EVENTS = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
)
EVENT_SOURCE = "sts.amazonaws.com"
SENTINEL_PREFIX = "sentinel."
DAY_FORMAT = "%Y/%m/%d"  # the date folders, and the projected ``day`` partition's values


# --- the audit query ----------------------------------------------------------------------


def partition_days(start: datetime, end: datetime) -> tuple[date, date]:
    """First and last ``day`` partition that can hold events of [start, end].

    A log file lands in the folder of its delivery day, about 5 minutes (not guaranteed) after
    its events, so the events of a day's last minutes can sit in the next day's folder: the
    range ends one day after the window. The folder and S3 sources read the same days.
    """
    return start.date(), (end + timedelta(days=1)).date()


def _ts(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() != timedelta(0):
        raise ValueError("window ends must be UTC datetimes")
    return (
        at.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{at.microsecond:06d}" if at.microsecond else "")
        + "Z"
    )


# The result's columns, in order; record_from_row reads them by name.
RESULT_COLUMNS = (
    "row_kind",
    "event_count",
    "event_id",
    "shared_event_id",
    "event_name",
    "event_source",
    "first_time",
    "last_time",
    "aws_region",
    "regions",
    "recipient_account_id",
    "accounts",
    "source_ip",
    "user_agent",
    "error_code",
    "identity_type",
    "identity_arn",
    "principal_id",
    "caller_name",
    "invoked_by",
    "context_source_identity",
    "caller_role_arn",
    "has_request_parameters",
    "role_arn",
    "role_session_name",
    "request_name",
    "source_identity",
    "response_source_identity",
)

# Fields an aggregated group shares: everything the classification reads.
_GROUP_KEY = (
    "event_name",
    "event_source",
    "error_code",
    "identity_type",
    "identity_arn",
    "caller_name",
    "invoked_by",
    "context_source_identity",
    "caller_role_arn",
    "has_request_parameters",
    "role_arn",
    "source_identity",
    "response_source_identity",
    "bad_time",
    "no_id",
)


def audit_query(database: str, table: str, start: datetime, end: datetime) -> str:
    """The audit's query over ``database.table`` for events in [start, end] (UTC)."""
    db, tbl = identifier(database, "database"), identifier(table, "table")
    first_day, last_day = partition_days(start, end)
    like = f"'{SENTINEL_PREFIX}%'"
    sentinel = " OR ".join(
        f"coalesce({c} LIKE {like}, false)"
        for c in ("source_identity", "response_source_identity", "context_source_identity")
    )
    # Only validated names and formatted dates reach the text (S608 is about unchecked input).
    return f"""{_issued(db, tbl, first_day, last_day)}in_window AS (
  SELECT *,
    event_ts IS NULL AS bad_time,
    event_key IS NULL AS no_id,
    {sentinel} AS is_sentinel
  FROM issued
  WHERE event_ts IS NULL
    OR event_ts BETWEEN from_iso8601_timestamp('{_ts(start)}')
                    AND from_iso8601_timestamp('{_ts(end)}')
),
copies AS (
  SELECT *,
    CASE WHEN event_key IS NULL THEN 1
         ELSE row_number() OVER (PARTITION BY event_key ORDER BY recipient_account_id, event_id)
    END AS copy,
    CASE WHEN event_key IS NULL THEN coalesce(recipient_account_id, '')
         ELSE array_join(array_sort(array_distinct(
           array_agg(coalesce(recipient_account_id, '')) OVER (PARTITION BY event_key))), ',')
    END AS accounts
  FROM in_window
),
events AS (
  SELECT * FROM copies WHERE copy = 1
)
{_output()}"""  # noqa: S608


def _issued(db: str, tbl: str, first_day: date, last_day: date) -> str:
    """The first step: the issuance events of the window's partitions, their fields named."""
    names = ", ".join(f"'{n}'" for n in ISSUANCE_EVENTS)
    return f"""WITH issued AS (
  SELECT
    CASE WHEN nullif(sharedeventid, '') IS NOT NULL THEN 's:' || sharedeventid
         WHEN nullif(eventid, '') IS NOT NULL THEN 'e:' || eventid
    END AS event_key,
    eventid AS event_id,
    sharedeventid AS shared_event_id,
    eventname AS event_name,
    eventsource AS event_source,
    eventtime AS event_time,
    try(from_iso8601_timestamp(eventtime)) AS event_ts,
    awsregion AS aws_region,
    recipientaccountid AS recipient_account_id,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    errorcode AS error_code,
    useridentity.type AS identity_type,
    useridentity.arn AS identity_arn,
    useridentity.principalid AS principal_id,
    useridentity.username AS caller_name,
    useridentity.invokedby AS invoked_by,
    useridentity.sessioncontext.sourceidentity AS context_source_identity,
    useridentity.sessioncontext.sessionissuer.arn AS caller_role_arn,
    requestparameters IS NOT NULL AS has_request_parameters,
    json_extract_scalar(requestparameters, '$.roleArn') AS role_arn,
    json_extract_scalar(requestparameters, '$.roleSessionName') AS role_session_name,
    json_extract_scalar(requestparameters, '$.name') AS request_name,
    json_extract_scalar(requestparameters, '$.sourceIdentity') AS source_identity,
    json_extract_scalar(responseelements, '$.sourceIdentity') AS response_source_identity
  FROM "{db}"."{tbl}"
  WHERE day BETWEEN '{first_day:{DAY_FORMAT}}' AND '{last_day:{DAY_FORMAT}}'
    AND (eventsource = '{EVENT_SOURCE}' OR eventsource IS NULL)
    AND eventname IN ({names})
),
"""  # noqa: S608


def _output() -> str:
    """The last step: Sentinel's events one row each, every other issuance grouped."""
    group = ", ".join(_GROUP_KEY)
    return f"""SELECT
  'event' AS row_kind, 1 AS event_count, event_id, shared_event_id, event_name, event_source,
  event_time AS first_time, event_time AS last_time, aws_region, aws_region AS regions,
  recipient_account_id, accounts, source_ip, user_agent, error_code, identity_type,
  identity_arn, principal_id, caller_name, invoked_by, context_source_identity,
  caller_role_arn, has_request_parameters, role_arn, role_session_name, request_name,
  source_identity, response_source_identity
FROM events
WHERE is_sentinel
UNION ALL
SELECT
  'aggregate' AS row_kind, count(*) AS event_count, min(event_id) AS event_id,
  NULL AS shared_event_id, event_name, event_source,
  min(event_time) AS first_time, max(event_time) AS last_time, NULL AS aws_region,
  array_join(array_sort(array_distinct(array_agg(coalesce(aws_region, '')))), ',') AS regions,
  NULL AS recipient_account_id,
  array_join(array_sort(array_distinct(flatten(array_agg(split(accounts, ','))))), ',')
    AS accounts,
  NULL AS source_ip, NULL AS user_agent, error_code, identity_type, identity_arn,
  NULL AS principal_id, caller_name, invoked_by, context_source_identity, caller_role_arn,
  has_request_parameters, role_arn, NULL AS role_session_name, NULL AS request_name,
  source_identity, response_source_identity
FROM events
WHERE NOT is_sentinel
GROUP BY {group}"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What ``--plan`` shows: the SQL and the partitions it constrains."""

    sql: str
    database: str
    table: str
    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def describe(self) -> str:
        return (
            f"Partitions of {self.database}.{self.table}: day "
            f"{self.first_day:{DAY_FORMAT}} to {self.last_day:{DAY_FORMAT}} "
            f"({counted(self.days, 'day')}) x every projected account "
            "x every projected region"
        )


def plan(database: str, table: str, start: datetime, end: datetime) -> QueryPlan:
    first, last = partition_days(start, end)
    return QueryPlan(
        audit_query(database, table, start, end),
        identifier(database, "database"),
        identifier(table, "table"),
        first,
        last,
    )


# --- result rows back to CloudTrail's record shape ------------------------------------------


@dataclass(frozen=True, slots=True)
class AthenaRecord:
    """One result row: a CloudTrail-shaped record standing for ``count`` distinct events.

    An individual event has ``count`` 1 and ``aggregated`` False. An aggregated row's record
    holds the fields its events share; ``eventTime`` is the earliest, ``last_time`` the latest,
    and ``eventID`` the smallest id of the group.
    """

    record: dict[str, Any]
    count: int
    aggregated: bool
    last_time: str | None
    accounts: tuple[str, ...]
    regions: tuple[str, ...]


class RowError(ValueError):
    """A result row that does not have the query's shape."""


def _clean(row: Mapping[str, str | None]) -> dict[str, str | None]:
    return {k: (v if v else None) for k, v in row.items()}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def record_from_row(row: Mapping[str, str | None]) -> AthenaRecord:
    """An :class:`AthenaRecord` from one result row (every value a string or None)."""
    r = _clean(row)
    kind = r.get("row_kind")
    if kind not in ("event", "aggregate"):
        raise RowError(f"row_kind is {kind!r}")
    try:
        count = int(r.get("event_count") or "")
    except ValueError as exc:
        raise RowError(f"event_count is {r.get('event_count')!r}") from exc
    if count < 1:
        raise RowError(f"event_count is {count}")
    issuer = _drop_none({"arn": r.get("caller_role_arn")}) or None
    context = _drop_none(
        {"sourceIdentity": r.get("context_source_identity"), "sessionIssuer": issuer}
    )
    identity = _drop_none(
        {
            "type": r.get("identity_type"),
            "arn": r.get("identity_arn"),
            "principalId": r.get("principal_id"),
            "userName": r.get("caller_name"),
            "invokedBy": r.get("invoked_by"),
            "sessionContext": context or None,
        }
    )
    params = None
    if r.get("has_request_parameters") == "true":
        params = _drop_none(
            {
                "roleArn": r.get("role_arn"),
                "roleSessionName": r.get("role_session_name"),
                "name": r.get("request_name"),
                "sourceIdentity": r.get("source_identity"),
            }
        )
    response = _drop_none({"sourceIdentity": r.get("response_source_identity")}) or None
    record: dict[str, Any] = {
        "eventID": r.get("event_id"),
        "sharedEventID": r.get("shared_event_id"),
        "eventName": r.get("event_name"),
        "eventSource": r.get("event_source"),
        "eventTime": r.get("first_time"),
        "awsRegion": r.get("aws_region"),
        "recipientAccountId": r.get("recipient_account_id"),
        "sourceIPAddress": r.get("source_ip"),
        "userAgent": r.get("user_agent"),
        "errorCode": r.get("error_code"),
        "userIdentity": identity or None,
        "requestParameters": params,
        "responseElements": response,
    }
    return AthenaRecord(
        record=record,
        count=count,
        aggregated=kind == "aggregate",
        last_time=r.get("last_time"),
        accounts=tuple(a for a in (r.get("accounts") or "").split(",") if a),
        regions=tuple(a for a in (r.get("regions") or "").split(",") if a),
    )
