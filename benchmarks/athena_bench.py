"""Benchmark: the Athena audit's query on a local engine against the folder source, one run.

Usage::

    python benchmarks/athena_bench.py [--events 10000000] [--sts-share 0.05]
                                      [--parquet-sample 1000000]

It writes ``--events`` CloudTrail records (default 10,000,000) as gzip log files in an
organisation trail's S3 layout (``AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/``,
1,000 records a file, 20 accounts x 2 regions x 10 days) into a temp dir, removed at the end.
``--sts-share`` of them are STS issuance events (Sentinel-format, other, no SourceIdentity,
failed, AWS-service); the rest are ordinary API calls of realistic size. Then it measures, on
the same files, one after the other:

- ``athena sql (duckdb)``: the generated Athena query, transpiled with sqlglot, run by DuckDB
  over the table's stand-in view (tests/audit/athenahelpers.py), rows turned into records;
- ``folder source``: ``sentinel audit``'s folder source reading the same files.

Both cover the whole span, so both read every file. It checks that both saw the same number of
issuance events, reports the bytes on disk (what Athena would scan for gzip JSON), and, on a
Parquet copy of the first ``--parquet-sample`` records written by DuckDB, the bytes of the
columns the query reads: the basis of the cost estimate in docs/athena.md.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "audit"))

from common import machine, print_summary, print_table, ratio  # noqa: E402

ORG = "o-benchbench01"
ACCOUNTS = [f"{100000000000 + i:012d}" for i in range(20)]
REGIONS = ("us-east-1", "eu-west-1")
START = datetime(2026, 1, 10, tzinfo=UTC)
DAYS = 10
PER_FILE = 1000

# Field values are filled in per record; everything else is a fixed, realistic body.
NOISE = json.dumps(
    {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROABENCHROLE:SESSION",
            "arn": "arn:aws:sts::ACCT:assumed-role/app-worker/SESSION",
            "accountId": "ACCT",
            "accessKeyId": "ACCESSKEY",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROABENCHROLE",
                    "arn": "arn:aws:iam::ACCT:role/app-worker",
                    "accountId": "ACCT",
                    "userName": "app-worker",
                },
                "attributes": {"creationDate": "2026-01-10T00:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": "TIME",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "REGION",
        "sourceIPAddress": "IPADDR",
        "userAgent": "[aws-sdk-java/2.25.11 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10]",
        "requestParameters": {
            "bucketName": "app-data-bucket",
            "Host": "app-data-bucket.s3.amazonaws.com",
            "key": "tenants/OBJKEY/report.json",
        },
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": "AMZID2",
            "bytesTransferredOut": 5120,
        },
        "requestID": "RID",
        "eventID": "EID",
        "readOnly": True,
        "resources": [
            {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::app-data-bucket/tenants/0042"},
            {"accountId": "ACCT", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::app-data-bucket"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "ACCT",
        "eventCategory": "Data",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "app-data-bucket.s3.amazonaws.com",
        },
    }
)


def sts_record(
    rng: random.Random, acct: str, region: str, at: str, eid: str, sids: list[str]
) -> dict[str, Any]:
    roll = rng.random()
    role = f"arn:aws:iam::{acct}:role/{rng.choice(('prod', 'dev', 'deploy'))}"
    sid = None
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDABENCHUSER",
        "arn": f"arn:aws:iam::{acct}:user/u{rng.randrange(50)}",
        "accountId": acct,
        "userName": "u",
    }
    error = None
    if roll < 0.3:
        sid = rng.choice(sids)
    elif roll < 0.4:
        sid = f"ci-runner-{rng.randrange(50)}"
    elif roll < 0.6:
        identity = {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}
    elif roll < 0.7:
        error = "AccessDenied"
    params: dict[str, Any] | None = {
        "roleArn": role,
        "roleSessionName": sid or "botocore",
        "durationSeconds": 3600,
    }
    resp: dict[str, Any] | None = {
        "credentials": {
            "accessKeyId": "ASIABENCH",
            "expiration": "Jan 10, 2026 1:00:00 PM",
            "sessionToken": "bench-token-not-real",
        },
        "assumedRoleUser": {"assumedRoleId": "AROABENCH:s", "arn": f"{role}/s"},
    }
    if sid:
        assert params is not None and resp is not None
        params["sourceIdentity"] = sid
        resp["sourceIdentity"] = sid
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": at,
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": resp,
        "requestID": eid,
        "eventID": eid,
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": acct,
        "eventCategory": "Management",
    }
    if error:
        rec.update(
            errorCode=error,
            errorMessage="not authorized",
            requestParameters=None,
            responseElements=None,
        )
    return rec


def _uuid(bits: int) -> str:
    h = f"{bits >> 128:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def write_files(args: tuple[str, int, int, int, float, list[str]]) -> tuple[int, int, int]:
    """Worker: files ``first`` .. ``first + count`` of the layout; (files, bytes, sts)."""
    root, first, count, total_files, share, sids = args
    rng = random.Random(first)
    out_bytes = sts = 0
    for n in range(first, first + count):
        acct = ACCOUNTS[n % len(ACCOUNTS)]
        region = REGIONS[(n // len(ACCOUNTS)) % len(REGIONS)]
        at = START + timedelta(seconds=(DAYS * 86400 - 600) * n / total_files)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        noise = NOISE.replace("ACCT", acct).replace("REGION", region).replace("TIME", stamp)
        parts = []
        for i in range(PER_FILE):
            eid = f"{n:08x}-{i:04x}-{rng.getrandbits(64):016x}"
            if rng.random() < share:
                parts.append(json.dumps(sts_record(rng, acct, region, stamp, eid, sids)))
                sts += 1
            else:
                # The values that differ from call to call in a real trail, so the files
                # compress about as well as real ones (random ids do not compress).
                bits = rng.getrandbits(256)
                parts.append(
                    noise.replace("EID", _uuid(bits))
                    .replace("RID", f"{bits & 0xFFFF:016X}")
                    .replace(
                        "IPADDR", f"10.{bits >> 8 & 255}.{bits >> 16 & 255}.{bits >> 24 & 255}"
                    )
                    .replace("ACCESSKEY", f"ASIA{bits >> 32 & 0xFFFFFFFFFFFF:016X}")
                    .replace("SESSION", f"i-{bits >> 80 & 0xFFFFFFFF:08x}")
                    .replace("OBJKEY", f"{bits >> 112 & 0xFFFF:04d}/{bits >> 128 & 0xFFFFFFFF:08x}")
                    .replace("AMZID2", base64.b64encode(bits.to_bytes(32, "big")).decode())
                )
        body = ('{"Records":[' + ",".join(parts) + "]}").encode()
        folder = (
            Path(root) / "AWSLogs" / ORG / acct / "CloudTrail" / region / at.strftime("%Y/%m/%d")
        )
        folder.mkdir(parents=True, exist_ok=True)
        data = gzip.compress(body, 6)
        (folder / f"{acct}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{n:016x}.json.gz").write_bytes(
            data
        )
        out_bytes += len(data)
    return count, out_bytes, sts


def generate(root: Path, events: int, share: float) -> tuple[int, int, int]:
    files = max(1, events // PER_FILE)
    sids = [
        f"sentinel.user{i % 500}.{random.Random(i).getrandbits(64):016x}" for i in range(10_000)
    ]
    chunk = max(1, files // 16)
    jobs = [
        (str(root), s, min(chunk, files - s), files, share, sids) for s in range(0, files, chunk)
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = list(pool.map(write_files, jobs))
    return sum(d[0] for d in done), sum(d[1] for d in done), sum(d[2] for d in done)


def run_duckdb(root: Path, start: datetime, end: datetime) -> tuple[int, int, int]:
    import duckdb
    from athenahelpers import duck_table, run_audit_sql

    from sentinelgw.audit.athena_sql import audit_query, record_from_row

    con = duckdb.connect()
    duck_table(con, root, "trail", "org", org=ORG)
    rows = run_audit_sql(con, audit_query("trail", "org", start, end))
    records = [record_from_row(r) for r in rows]
    return sum(r.count for r in records), len(records), sum(1 for r in records if not r.aggregated)


def run_folder(root: Path, start: datetime, end: datetime) -> int:
    from sentinelgw.audit import sources
    from sentinelgw.audit.events import ParseStats
    from sentinelgw.audit.window import Window

    stats = ParseStats()
    events: Iterator[Any] = sources.folder_events(root, Window(start, end), stats)
    return sum(1 for _ in events)


# The columns (and nested fields) the audit query reads; partition columns are paths, not data.
READ_COLUMNS = {
    ("eventid",),
    ("sharedeventid",),
    ("eventname",),
    ("eventsource",),
    ("eventtime",),
    ("awsregion",),
    ("recipientaccountid",),
    ("sourceipaddress",),
    ("useragent",),
    ("errorcode",),
    ("requestparameters",),
    ("responseelements",),
    ("useridentity", "type"),
    ("useridentity", "arn"),
    ("useridentity", "principalid"),
    ("useridentity", "username"),
    ("useridentity", "invokedby"),
    ("useridentity", "sessioncontext", "sourceidentity"),
    ("useridentity", "sessioncontext", "sessionissuer", "arn"),
}


def _column_bytes(con: Any, path: Path, skip_row_groups: bool) -> tuple[int, int, int]:
    """(rows, bytes of every column chunk, bytes of the chunks the query reads).

    With ``skip_row_groups``, a row group whose eventsource/eventname min-max statistics
    exclude every STS issuance call is not read, as Athena skips it.
    """
    from sentinelgw.audit.athena_sql import ISSUANCE_EVENTS

    meta = con.execute(
        "SELECT row_group_id, path_in_schema, total_compressed_size, stats_min, stats_max "
        f"FROM parquet_metadata('{path}')"
    ).fetchall()
    rows = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
    ranges = {
        (r[0], r[1].lower()): (r[3], r[4])
        for r in meta
        if r[1].lower() in ("eventname", "eventsource")
    }

    def may_hold_sts(group: int) -> bool:
        src_lo, src_hi = ranges.get((group, "eventsource"), (None, None))
        name_lo, name_hi = ranges.get((group, "eventname"), (None, None))
        if src_lo is None or src_hi is None or name_lo is None or name_hi is None:
            return True
        return src_lo <= "sts.amazonaws.com" <= src_hi and any(
            name_lo <= n <= name_hi for n in ISSUANCE_EVENTS
        )

    whole = used = 0
    for group, name, size, _lo, _hi in meta:
        whole += size
        key = tuple(p.strip().lower() for p in name.split(","))
        if key in READ_COLUMNS and (not skip_row_groups or may_hold_sts(group)):
            used += size
    return rows, whole, used


def parquet_columns(root: Path, sample_events: int, tmp: Path) -> dict[str, Any]:
    """Bytes per event of a Parquet copy of a sample: whole, the columns the audit reads, and
    those columns in the row groups that can hold STS calls when sorted by source and name."""
    import duckdb
    from athenahelpers import duck_table

    con = duckdb.connect()
    duck_table(con, root, "trail", "org", org=ORG)
    con.execute(
        "CREATE TABLE sample AS SELECT * EXCLUDE (account, region, day) "
        f"FROM trail.org LIMIT {int(sample_events)}"
    )
    options = "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 100000)"
    plain, ordered = tmp / "plain.parquet", tmp / "sorted.parquet"
    con.execute(f"COPY sample TO '{plain}' {options}")
    con.execute(
        f"COPY (SELECT * FROM sample ORDER BY eventsource, eventname) TO '{ordered}' {options}"
    )
    rows, whole, used = _column_bytes(con, plain, skip_row_groups=False)
    _, _, sorted_used = _column_bytes(con, ordered, skip_row_groups=True)
    return {
        "parquet_rows": rows,
        "parquet_bytes_per_event": whole / rows,
        "parquet_read_bytes_per_event": used / rows,
        "parquet_sorted_read_bytes_per_event": sorted_used / rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--sts-share", type=float, default=0.05)
    ap.add_argument("--parquet-sample", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    if not 1000 <= args.events <= 50_000_000 or not 0 < args.sts_share <= 1:
        raise SystemExit("--events must be 1,000..50,000,000 and --sts-share in (0, 1]")

    root = Path(tempfile.mkdtemp(prefix="athena-bench-"))
    try:
        t = time.perf_counter()
        files, gz_bytes, sts = generate(root, args.events, args.sts_share)
        gen_s = time.perf_counter() - t
        start, end = START, START + timedelta(days=DAYS)
        t = time.perf_counter()
        duck_events, duck_rows, duck_singles = run_duckdb(root, start, end)
        duck_s = time.perf_counter() - t
        t = time.perf_counter()
        folder_events = run_folder(root, start, end)
        folder_s = time.perf_counter() - t
        pq = parquet_columns(root, args.parquet_sample, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    total = files * PER_FILE
    print(
        f"{total:,} events ({sts:,} STS issuance) in {files:,} files, {gz_bytes / 1e9:.2f} GB "
        f"gzip, generated in {gen_s:.0f} s; {machine()['cpus']} CPUs"
    )
    print_table(
        ["variant", "issuance events", "wall s", "events read/s"],
        [
            ("athena sql (duckdb)", duck_events, duck_s, total / duck_s),
            ("folder source", folder_events, folder_s, total / folder_s),
        ],
    )
    print(
        f"query result: {duck_rows:,} rows ({duck_singles:,} Sentinel-format events, the "
        "rest aggregated)"
    )
    print_summary(
        {
            **machine(),
            "events": total,
            "files": files,
            "sts_events": sts,
            "gzip_bytes": gz_bytes,
            "gzip_bytes_per_event": round(gz_bytes / total, 1),
            "duckdb_s": round(duck_s, 2),
            "folder_s": round(folder_s, 2),
            "folder_vs_duckdb": ratio(folder_s, duck_s),
            "duckdb_events": duck_events,
            "folder_events": folder_events,
            "result_rows": duck_rows,
            "events_matched": duck_events == folder_events,
            **{k: round(v, 1) if isinstance(v, float) else v for k, v in pq.items()},
        }
    )


if __name__ == "__main__":
    main()
