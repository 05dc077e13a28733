"""The SQL of the Athena audit: the organisation trail's table, and the one query over it.

An organisation trail delivers its log files to::

    s3://<bucket>/[<prefix>/]AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>

:func:`create_table_sql` declares that layout as a Hive table with partition projection on
``account`` and ``region`` (enums) and ``day`` (a ``yyyy/MM/dd`` date), so Athena computes the
partitions from the query's predicates and no ``MSCK REPAIR`` or Glue crawler is needed.
``sessioncontext`` carries ``sourceidentity``, which the usual sample table lacks.

:func:`audit_query` is the audit's query (Trino dialect, Athena engine 3). It reads only the
partitions of the window's delivery days, keeps the six STS issuance events inside the window,
counts each event once (by ``sharedEventID``, else ``eventID``, as a cross-account call is
delivered to both accounts), and returns:

- one row per event that carries a SourceIdentity starting ``sentinel.`` (in the request, the
  response or the caller's session): these need the session table, and there are few of them;
- one row per group of every other event, with a count: these are classified from their fields
  alone, and the grouping keeps every field the classification reads.

:func:`record_from_row` turns a result row back into a CloudTrail record's shape, so the audit
classifies it with the same code as a record read from a log file.

Every value that reaches SQL text is validated first (:func:`identifier`, :func:`check_*`):
the text is built by string formatting, so nothing unchecked may reach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sentinelgw.errors import UsageError

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
PROJECTION_START = "2020/01/01"

# --- the table's schema ---------------------------------------------------------------------
# A column's type is "string", a Struct, an Array of a type, or a Map of string to string.
# Names keep CloudTrail's JSON spelling: the DDL lower-cases them (Hive column names are
# case-insensitive), and a test adapter needs the JSON keys to read the same files.


@dataclass(frozen=True, slots=True)
class Struct:
    fields: tuple[tuple[str, ColumnType], ...]


@dataclass(frozen=True, slots=True)
class Array:
    of: ColumnType


@dataclass(frozen=True, slots=True)
class Map:
    pass  # map<string,string>, the only map CloudTrail's schema has


ColumnType = str | Struct | Array | Map

_ISSUER = Struct(
    (
        ("type", "string"),
        ("principalId", "string"),
        ("arn", "string"),
        ("accountId", "string"),
        ("userName", "string"),
    )
)
USER_IDENTITY = Struct(
    (
        ("type", "string"),
        ("principalId", "string"),
        ("arn", "string"),
        ("accountId", "string"),
        ("invokedBy", "string"),
        ("accessKeyId", "string"),
        ("userName", "string"),
        ("onBehalfOf", Struct((("userId", "string"), ("identityStoreArn", "string")))),
        (
            "sessionContext",
            Struct(
                (
                    (
                        "attributes",
                        Struct((("mfaAuthenticated", "string"), ("creationDate", "string"))),
                    ),
                    ("sessionIssuer", _ISSUER),
                    ("ec2RoleDelivery", "string"),
                    ("sourceIdentity", "string"),
                    (
                        "webIdFederationData",
                        Struct((("federatedProvider", "string"), ("attributes", Map()))),
                    ),
                )
            ),
        ),
    )
)

COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("eventVersion", "string"),
    ("userIdentity", USER_IDENTITY),
    ("eventTime", "string"),
    ("eventSource", "string"),
    ("eventName", "string"),
    ("awsRegion", "string"),
    ("sourceIPAddress", "string"),
    ("userAgent", "string"),
    ("errorCode", "string"),
    ("errorMessage", "string"),
    ("requestParameters", "string"),  # JSON text: its keys differ from one event to another
    ("responseElements", "string"),
    ("additionalEventData", "string"),
    ("requestID", "string"),
    ("eventID", "string"),
    ("readOnly", "string"),
    ("resources", Array(Struct((("ARN", "string"), ("accountId", "string"), ("type", "string"))))),
    ("eventType", "string"),
    ("apiVersion", "string"),
    ("recipientAccountId", "string"),
    ("serviceEventDetails", "string"),
    ("sharedEventID", "string"),
    ("vpcEndpointId", "string"),
    ("vpcEndpointAccountId", "string"),
    ("eventCategory", "string"),
    (
        "addendum",
        Struct(
            (
                ("reason", "string"),
                ("updatedFields", "string"),
                ("originalRequestID", "string"),
                ("originalEventID", "string"),
            )
        ),
    ),
    ("sessionCredentialFromConsole", "string"),
    ("edgeDeviceDetails", "string"),
    (
        "tlsDetails",
        Struct(
            (
                ("tlsVersion", "string"),
                ("cipherSuite", "string"),
                ("clientProvidedHostHeader", "string"),
            )
        ),
    ),
)
PARTITIONS = ("account", "region", "day")


def hive_type(t: ColumnType, depth: int = 1) -> str:
    """A column type in Hive DDL spelling; a struct's fields one a line, indented."""
    if isinstance(t, Struct):
        pad = "  " * (depth + 1)
        inner = ",\n".join(
            f"{pad}{name.lower()}: {hive_type(sub, depth + 1)}" for name, sub in t.fields
        )
        return f"STRUCT<\n{inner}>"
    if isinstance(t, Array):
        return f"ARRAY<{hive_type(t.of, depth)}>"
    if isinstance(t, Map):
        return "MAP<STRING, STRING>"
    return t.upper()


# --- validation of everything that is formatted into SQL --------------------------------------

_IDENT = re.compile(r"^[a-z0-9_]{1,255}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*()/-]*$")


def identifier(value: str, what: str) -> str:
    """An Athena database or table name: lower-case letters, digits and underscores."""
    name = value.strip().lower()
    if not _IDENT.match(name):
        raise UsageError(
            f"{what} {value!r} is not a valid Athena name",
            hint="Use lower-case letters, digits and underscores",
        )
    return name


def parse_source(spec: str) -> tuple[str, str]:
    """``athena:DATABASE.TABLE`` → (database, table)."""
    rest = spec[len("athena:") :] if spec.startswith("athena:") else spec
    database, dot, table = rest.partition(".")
    if not dot:
        raise UsageError(
            f"--source {spec!r} names no table", hint="Use --source athena:DATABASE.TABLE"
        )
    return identifier(database, "database"), identifier(table, "table")


def check_accounts(values: Iterable[str]) -> tuple[str, ...]:
    return _checked(
        values,
        _ACCOUNT,
        "--accounts",
        "a 12-digit account id",
        "Give the organisation's account ids, comma-separated",
    )


def check_regions(values: Iterable[str]) -> tuple[str, ...]:
    return _checked(
        values, _REGION, "--regions", "a region name", "For example --regions us-east-1,eu-west-1"
    )


def _checked(
    values: Iterable[str], pattern: re.Pattern[str], flag: str, what: str, hint: str
) -> tuple[str, ...]:
    """Comma-separated or repeated values, each matching ``pattern``, at least one."""
    items = _split(values)
    bad = [v for v in items if not pattern.match(v)]
    if bad or not items:
        raise UsageError(
            f"{flag}: {', '.join(map(repr, bad)) or 'none given'} is not {what}", hint=hint
        )
    return items


def _split(values: Iterable[str]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                out[part.strip()] = None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TrailLocation:
    """Where an organisation trail delivers: ``s3://bucket/[prefix/]AWSLogs/<org-id>/``."""

    bucket: str
    prefix: str
    org_id: str

    def __post_init__(self) -> None:
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            raise UsageError(
                f"--bucket {self.bucket!r} is not an S3 bucket name",
                hint="Give the trail's bucket name, without s3://",
            )
        if not _PREFIX.match(self.prefix) or "//" in self.prefix.strip("/"):
            raise UsageError(
                f"--prefix {self.prefix!r} has characters an S3 key prefix of a trail cannot have",
                hint="Give the trail's S3 key prefix, without the bucket",
            )
        if not _ORG.match(self.org_id):
            raise UsageError(
                f"--org-id {self.org_id!r} is not an organisation id",
                hint="It looks like o-a1b2c3d4e5 ('aws organizations describe-organization')",
            )

    @property
    def url(self) -> str:
        prefix = self.prefix.strip("/")
        head = f"{prefix}/" if prefix else ""
        return f"s3://{self.bucket}/{head}AWSLogs/{self.org_id}/"


# --- DDL ----------------------------------------------------------------------------------


def create_database_sql(database: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS `{identifier(database, 'database')}`"


def create_table_sql(
    database: str,
    table: str,
    location: TrailLocation,
    accounts: Iterable[str],
    regions: Iterable[str],
) -> str:
    """``CREATE EXTERNAL TABLE`` for an organisation trail, with partition projection."""
    db, tbl = identifier(database, "database"), identifier(table, "table")
    accts, regs = check_accounts(accounts), check_regions(regions)
    cols = ",\n".join(f"  {name.lower()} {hive_type(t)}" for name, t in COLUMNS)
    props = {
        "projection.enabled": "true",
        "projection.account.type": "enum",
        "projection.account.values": ",".join(accts),
        "projection.region.type": "enum",
        "projection.region.values": ",".join(regs),
        "projection.day.type": "date",
        "projection.day.format": "yyyy/MM/dd",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "projection.day.range": f"{PROJECTION_START},NOW",
        "storage.location.template": f"{location.url}${{account}}/CloudTrail/${{region}}/${{day}}",
    }
    tblprops = ",\n".join(f"  '{k}'='{v}'" for k, v in props.items())
    return (
        f"CREATE EXTERNAL TABLE `{db}`.`{tbl}` (\n{cols}\n)\n"
        "PARTITIONED BY (account STRING, region STRING, day STRING)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{location.url}'\n"
        f"TBLPROPERTIES (\n{tblprops}\n)"
    )


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
    names = ", ".join(f"'{n}'" for n in ISSUANCE_EVENTS)
    like = f"'{SENTINEL_PREFIX}%'"
    sentinel = " OR ".join(
        f"coalesce({c} LIKE {like}, false)"
        for c in ("source_identity", "response_source_identity", "context_source_identity")
    )
    group = ", ".join(_GROUP_KEY)
    # Only validated names and formatted dates reach the text (S608 is about unchecked input).
    return f"""WITH issued AS (
  SELECT
    coalesce(sharedeventid, eventid) AS event_key,
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
in_window AS (
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
SELECT
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
            f"({self.days} day{'s' if self.days != 1 else ''}) x every projected account "
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
