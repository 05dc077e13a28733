"""Running the Athena audit's SQL for real, in DuckDB, over log files laid out as in S3.

Athena reads the organisation trail through the table ``sentinel audit athena-ddl`` declares.
DuckDB has no Hive SerDe, so :func:`duck_table` declares the same table as a view:

- ``read_json_objects`` reads every
  ``AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`` under a root folder
  (the bucket), one row per file's ``{"Records": [...]}``, and ``json_transform`` parses it
  once into the shape of :data:`sentinelgw.audit.athena_table.COLUMNS` (:func:`json_shape`): a
  ``string`` column whose value is an object, such as ``requestParameters``, stays JSON text,
  and a missing key reads as NULL, as with the Hive JSON SerDe; ``unnest`` then gives one row
  per record, as CloudTrailInputFormat does, and each column is exposed under its lower-case
  name, as in Athena. (``read_json`` with the same type is about ten times slower on files
  that are one large object);
- the partition columns ``account``, ``region`` and ``day`` come from the file's path, as
  the table's ``storage.location.template`` maps them.

:func:`run_audit_sql` then transpiles the Trino query to DuckDB with sqlglot and runs it, so a
wrong column, JSON path or partition predicate in the generated SQL fails the test that uses it.
"""

from __future__ import annotations

import gzip
import json
import secrets
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from sentinelgw.audit.athena_sql import RESULT_COLUMNS
from sentinelgw.audit.athena_table import COLUMNS, Array, ColumnType, Map, Struct
from sentinelgw.timeutil import iso

ORG = "o-a1b2c3d4e5"
ACCT_A = "111111111111"
ACCT_B = "222222222222"


def json_shape(t: ColumnType) -> Any:
    """The ``json_transform`` structure that reads a column as the Hive JSON SerDe does."""
    if isinstance(t, Struct):
        return {name: json_shape(sub) for name, sub in t.fields}
    if isinstance(t, Array):
        return [json_shape(t.of)]
    if isinstance(t, Map):
        return "MAP(VARCHAR, VARCHAR)"
    return "VARCHAR"  # an object or array read into a VARCHAR stays JSON text


def duck_table(
    con: duckdb.DuckDBPyConnection, root: Path, database: str, table: str, org: str = ORG
) -> None:
    """Declare ``database.table`` over the trail files under ``root`` (the bucket)."""
    pattern = str(
        root / "AWSLogs" / org / "*" / "CloudTrail" / "*" / "*" / "*" / "*" / "*.json.gz"
    ).replace("'", "''")
    shape = json.dumps({"Records": [json_shape(Struct(COLUMNS))]}).replace("'", "''")
    cols = ",\n  ".join(f'r."{name}" AS {name.lower()}' for name, _ in COLUMNS)
    parts = (
        r"regexp_extract(filename, '/AWSLogs/o-[^/]+/([0-9]{12})/CloudTrail/([^/]+)/"
        r"([0-9]{4}/[0-9]{2}/[0-9]{2})/', ['account', 'region', 'day'])"
    )
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
    con.execute(f"""CREATE OR REPLACE VIEW "{database}"."{table}" AS
WITH records AS (
  SELECT unnest(json_transform(json, '{shape}').Records) AS r, {parts} AS p
  FROM read_json_objects('{pattern}', filename=true, format='auto',
                         maximum_object_size=536870912)
)
SELECT
  {cols},
  p.account AS account, p.region AS region, p.day AS day
FROM records""")


# --- moto's Athena: queued results and slow queries ----------------------------------------


def post_json(url: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def athena_result(
    rows: list[dict[str, str | None]],
    columns: tuple[str, ...] = RESULT_COLUMNS,
    header: bool = True,
) -> dict[str, Any]:
    """A GetQueryResults ResultSet as Athena shapes it: the header first, NULL without a value."""

    def cells(values: list[str | None]) -> dict[str, Any]:
        return {"Data": [{"VarCharValue": v} if v is not None else {} for v in values]}

    data = [cells(list(columns))] if header else []
    data += [cells([r.get(c) for c in columns]) for r in rows]
    info = [{"Name": c, "Label": c, "Type": "varchar"} for c in columns]
    return {"rows": data, "column_info": info}


def athena_client(sandbox: Any) -> Any:
    """A boto3 Athena client on the sandbox (moto accepts any key for Athena)."""
    import boto3

    return boto3.client(
        "athena",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="AKIAATHENATESTS",
        aws_secret_access_key="athena-test-not-secret",
    )


def queue_result(sandbox: Any, result: dict[str, Any]) -> None:
    """Queue a result in moto's Athena: the next StartQueryExecution takes it."""
    status = post_json(
        f"{sandbox.endpoint_url}/moto-api/static/athena/query-results",
        {"account_id": sandbox.account_id, "region": sandbox.region, "results": [result]},
    )
    assert status == 201


@contextmanager
def slowed_athena(sandbox: Any) -> Iterator[Callable[[int], None]]:
    """``slow(n)``: each query then stays in a state for n GetQueryExecution calls."""
    base = f"{sandbox.endpoint_url}/moto-api/state-manager"

    def slow(times: int) -> None:
        post_json(
            f"{base}/set-transition",
            {
                "model_name": "athena::execution",
                "transition": {"progression": "manual", "times": times},
            },
        )

    try:
        yield slow
    finally:
        post_json(f"{base}/unset-transition", {"model_name": "athena::execution"})


def to_duckdb(sql: str) -> str:
    return sqlglot.transpile(sql, read="athena", write="duckdb")[0]


def run_audit_sql(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, str | None]]:
    """Run the Trino query in DuckDB; rows as Athena returns them (strings, or None)."""
    cur = con.execute(to_duckdb(sql))
    names = [d[0] for d in cur.description]
    out: list[dict[str, str | None]] = []
    for row in cur.fetchall():
        out.append({n: _athena_text(v) for n, v in zip(names, row, strict=True)})
    return out


def _athena_text(value: Any) -> str | None:
    """A value as GetQueryResults renders it: VarCharValue text, booleans in lower case."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- records shaped like real ones ------------------------------------------------------------


def sts_event(
    name: str = "AssumeRole",
    *,
    at: datetime,
    account: str = ACCT_A,
    role_arn: str | None = None,
    source_identity: str | None = None,
    chained: str | None = None,
    error: str | None = None,
    service: str | None = None,
    caller: str = "alice",
    event_id: str | None = None,
    shared: str | None = None,
    recipient: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One STS issuance record in CloudTrail's shape.

    ``error`` makes a failed call with ``requestParameters: null``; ``service`` an
    ``AWSService`` caller with ``invokedBy``; ``chained`` the caller's session SourceIdentity.
    """
    role = role_arn or f"arn:aws:iam::{account}:role/prod"
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": f"AIDA{caller.upper()}",
        "arn": f"arn:aws:iam::{account}:user/{caller}",
        "accountId": account,
        "userName": caller,
    }
    if service:
        identity = {"type": "AWSService", "invokedBy": service}
    elif chained:
        identity = {
            "type": "AssumedRole",
            "principalId": f"AROAHOP:{caller}",
            "arn": f"arn:aws:sts::{account}:assumed-role/hop/{caller}",
            "accountId": account,
            "sessionContext": {
                "sourceIdentity": chained,
                "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/hop"},
                "attributes": {"mfaAuthenticated": "false"},
            },
        }
    elif name == "AssumeRoleWithSAML":
        identity = {
            "type": "SAMLUser",
            "principalId": f"idp:{caller}",
            "userName": caller,
            "identityProvider": "idp",
        }
    elif name == "AssumeRoleWithWebIdentity":
        identity = {
            "type": "WebIdentityUser",
            "principalId": f"oidc:{caller}",
            "userName": caller,
            "identityProvider": "token.actions.githubusercontent.com",
        }
    params: dict[str, Any] | None
    if name in ("GetSessionToken",):
        params = {"durationSeconds": 3600}
    elif name == "GetFederationToken":
        params = {"name": caller, "durationSeconds": 3600}
    elif name == "AssumeRoot":
        task = "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"
        params = {"targetPrincipal": account, "taskPolicyArn": {"arn": task}}
    else:
        params = {
            "roleArn": role,
            "roleSessionName": source_identity or f"s-{caller}",
            "durationSeconds": 3600,
        }
        if source_identity:
            params["sourceIdentity"] = source_identity
    response: dict[str, Any] | None = {
        "credentials": {
            "accessKeyId": "ASIAEXAMPLE",
            "sessionToken": "redacted-in-tests",
            "expiration": "Nov 3, 2025 1:00:00 PM",
        },
    }
    if source_identity or chained:
        assert response is not None
        response["sourceIdentity"] = source_identity or chained
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": iso(at),
        "eventSource": "sts.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "lambda.amazonaws.com" if service else "192.0.2.10",
        "userAgent": service or "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient or account,
        "eventCategory": "Management",
        "resources": [{"ARN": role, "accountId": account, "type": "AWS::IAM::Role"}],
    }
    if shared:
        record["sharedEventID"] = shared
    if error:
        record["errorCode"] = error
        record["errorMessage"] = f"{error}: not authorized"
        record["requestParameters"] = None
        record["responseElements"] = None
    return record


def noise(at: datetime, account: str = ACCT_A) -> dict[str, Any]:
    """A non-STS event, as most of a trail is."""
    return {
        "eventVersion": "1.08",
        "eventTime": iso(at),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "eventID": str(uuid.uuid4()),
        "recipientAccountId": account,
        "userIdentity": {"type": "IAMUser", "principalId": "AIDANOISE"},
        "requestParameters": None,
        "responseElements": None,
    }


def deliver(
    root: Path,
    records: list[dict[str, Any]],
    *,
    folder_day: datetime,
    account: str = ACCT_A,
    region: str = "us-east-1",
    org: str = ORG,
) -> Path:
    """Write one gzip log file where the organisation trail would deliver it."""
    name = f"{account}_CloudTrail_{region}_{folder_day:%Y%m%dT%H%MZ}_{secrets.token_hex(8)}.json.gz"
    path = (
        root / "AWSLogs" / org / account / "CloudTrail" / region / f"{folder_day:%Y/%m/%d}" / name
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path
