"""The Athena table over an organisation trail: its columns, and the DDL that declares it.

An organisation trail delivers its log files to::

    s3://<bucket>/[<prefix>/]AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>

:func:`create_table_sql` declares that layout as a Hive table with partition projection on
``account`` and ``region`` (enums) and ``day`` (a ``yyyy/MM/dd`` date), so Athena computes the
partitions from the query's predicates and no ``MSCK REPAIR`` or Glue crawler is needed.
``sessioncontext`` carries ``sourceidentity``, which the usual sample table lacks.

:data:`COLUMNS` is the one description of the columns: the DDL is printed from it, and the tests
build their DuckDB stand-in for the table from it.

Every value that reaches SQL text is validated first (:func:`identifier`, :func:`check_*`,
:class:`TrailLocation`): the text is built by string formatting, so nothing unchecked may reach
it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sentinelgw.errors import UsageError

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

S = "string"


def struct(**fields: ColumnType) -> Struct:
    """A struct type whose fields are the keyword arguments, in order."""
    return Struct(tuple(fields.items()))


_ISSUER = struct(type=S, principalId=S, arn=S, accountId=S, userName=S)
USER_IDENTITY = struct(
    type=S,
    principalId=S,
    arn=S,
    accountId=S,
    invokedBy=S,
    accessKeyId=S,
    userName=S,
    onBehalfOf=struct(userId=S, identityStoreArn=S),
    sessionContext=struct(
        attributes=struct(mfaAuthenticated=S, creationDate=S),
        sessionIssuer=_ISSUER,
        ec2RoleDelivery=S,
        sourceIdentity=S,
        webIdFederationData=struct(federatedProvider=S, attributes=Map()),
    ),
)

COLUMNS: tuple[tuple[str, ColumnType], ...] = struct(
    eventVersion=S,
    userIdentity=USER_IDENTITY,
    eventTime=S,
    eventSource=S,
    eventName=S,
    awsRegion=S,
    sourceIPAddress=S,
    userAgent=S,
    errorCode=S,
    errorMessage=S,
    requestParameters=S,  # JSON text: its keys differ from one call to another
    responseElements=S,
    additionalEventData=S,
    requestID=S,
    eventID=S,
    readOnly=S,
    resources=Array(struct(ARN=S, accountId=S, type=S)),
    eventType=S,
    apiVersion=S,
    recipientAccountId=S,
    serviceEventDetails=S,
    sharedEventID=S,
    vpcEndpointId=S,
    vpcEndpointAccountId=S,
    eventCategory=S,
    addendum=struct(reason=S, updatedFields=S, originalRequestID=S, originalEventID=S),
    sessionCredentialFromConsole=S,
    edgeDeviceDetails=S,
    tlsDetails=struct(tlsVersion=S, cipherSuite=S, clientProvidedHostHeader=S),
).fields
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
