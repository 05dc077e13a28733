"""Benchmark: ``audit session-activity`` over N CloudTrail events (default 1,000,000) from a folder.

Usage::

    python benchmarks/activity_bench.py [--events 1000000] [--sessions 10000] [--workers 4]

It writes gzip log files in CloudTrail's delivery layout into a temp dir (1,000 records a file,
spread over 10 days and 2 regions, as ``audit_bench.py`` does): API calls (S3, EC2, STS, ...)
made by 10,000 role sessions, each with its own access key and Sentinel SourceIdentity. The
session under audit made one call in every file and a session chained from it one in every
tenth, so no file can be skipped by the byte search: this is the worst case for the folder
source. Then it measures, on the same files:

- ``baseline``: the standard library alone (gzip + json, the audit benchmark's baseline),
  counting the records whose ``userIdentity.accessKeyId`` is the session's key;
- ``session-activity``: the folder source with the activity decoder, deduplication and
  ordering, as ``sentinel audit session-activity ID --source DIR`` runs it (the session's
  record is given, not read from a table: that is one BatchGetItem).

It prints a table and one JSON summary line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.audit.activity import Matcher, SessionTarget, collect
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import folder_events
from sentinelgw.audit.window import Window
from sentinelgw.timeutil import iso

REGION = "us-east-1"
ACCOUNT = "123456789012"
START = datetime(2026, 1, 10, tzinfo=UTC)
DAYS = 10
PER_FILE = 1000
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-prod"
HOP = f"arn:aws:iam::{ACCOUNT}:role/sentinel-hop"
CALLS = (
    ("s3.amazonaws.com", "GetObject"),
    ("s3.amazonaws.com", "PutObject"),
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("sts.amazonaws.com", "GetCallerIdentity"),
    ("dynamodb.amazonaws.com", "Query"),
    ("kms.amazonaws.com", "Decrypt"),
)


def sessions(n: int) -> list[tuple[str, str]]:
    """(access key id, SourceIdentity) of n sessions."""
    return [
        (f"ASIA{secrets.token_hex(8).upper()}", f"sentinel.user{i % 500}.{secrets.token_hex(8)}")
        for i in range(n)
    ]


def api_call(rng: random.Random, at: datetime, key: str, si: str, role: str) -> dict[str, Any]:
    source, name = rng.choice(CALLS)
    bucket = f"bucket-{rng.randrange(100)}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROABENCH:{si}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/{si}",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROABENCH",
                    "arn": role,
                    "accountId": ACCOUNT,
                    "userName": role.rsplit("/", 1)[1],
                },
                "attributes": {"creationDate": iso(at), "mfaAuthenticated": "false"},
                "sourceIdentity": si,
            },
        },
        "eventTime": iso(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1",
        "requestParameters": {"bucketName": bucket, "key": f"data/{rng.randrange(10**6)}.json"},
        "responseElements": None,
        "requestID": secrets.token_hex(16),
        "eventID": secrets.token_hex(16),
        "readOnly": name.startswith(("Get", "Describe", "Query")),
        "resources": [
            {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}", "accountId": ACCOUNT}
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def generate(root: Path, n: int, pool: list[tuple[str, str]], target: tuple[str, str]) -> int:
    rng = random.Random(7)
    span = DAYS * 86400
    written = files = 0
    hop_key = f"ASIA{secrets.token_hex(8).upper()}"
    while written < n:
        count = min(PER_FILE, n - written)
        at = START + timedelta(seconds=span * written / n)
        region = ("us-east-1", "eu-west-1")[files % 2]
        recs = []
        for i in range(count):
            when = at + timedelta(seconds=i % 300)
            if i == 0:
                recs.append(api_call(rng, when, target[0], target[1], ROLE))
            elif i == 1 and files % 10 == 0:
                recs.append(api_call(rng, when, hop_key, target[1], HOP))
            else:
                key, si = rng.choice(pool)
                recs.append(api_call(rng, when, key, si, ROLE))
        day = root / "AWSLogs" / ACCOUNT / "CloudTrail" / region / f"{at:%Y/%m/%d}"
        day.mkdir(parents=True, exist_ok=True)
        name = f"{ACCOUNT}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{secrets.token_hex(8)}.json.gz"
        (day / name).write_bytes(gzip.compress(json.dumps({"Records": recs}).encode(), 1))
        written += count
        files += 1
    return files


def baseline(root: Path, key: str) -> int:
    count = 0
    for path in sorted(root.rglob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            doc = json.load(fh)
        count += sum(
            1 for r in doc["Records"] if (r.get("userIdentity") or {}).get("accessKeyId") == key
        )
    return count


def activity(root: Path, target: SessionTarget, window: Window, workers: int) -> dict[str, Any]:
    stats = ParseStats()
    matcher = Matcher([target])
    events = collect(
        folder_events(
            root,
            window,
            stats,
            workers=workers,
            decode=matcher.decode_whole,
            parse=matcher.parse,
        )
    )
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return {"events": len(events), "kinds": kinds, "files": stats.files, "bad": stats.malformed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="activity-bench-"))
    try:
        pool = sessions(args.sessions)
        key, si = pool[0]
        pool = pool[1:]
        t = time.perf_counter()
        files = generate(root, args.events, pool, (key, si))
        gen_s = time.perf_counter() - t
        target = SessionTarget(
            si.rsplit(".", 1)[1], "user0", "prod", ROLE, si, (key,), START, START
        )
        window = Window(START, START + timedelta(days=DAYS))
        load = round(os.getloadavg()[0], 2)
        t = time.perf_counter()
        base_count = baseline(root, key)
        base_s = time.perf_counter() - t
        t = time.perf_counter()
        result = activity(root, target, window, args.workers)
        act_s = time.perf_counter() - t
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"{args.events:,} CloudTrail events in {files:,} files (generated in {gen_s:.1f}s), "
        f"{os.cpu_count()} CPUs, {args.workers} reader threads"
    )
    print(f"{'variant':<30}{'wall s':>10}{'events/s':>14}  found")
    for name, secs, found in (
        ("baseline (gzip + json)", base_s, base_count),
        ("session-activity (folder)", act_s, result["events"]),
    ):
        print(f"{name:<30}{secs:>10.2f}{args.events / secs:>14,.0f}  {found:,}")
    print(
        json.dumps(
            {
                "events": args.events,
                "files": files,
                "cpus": os.cpu_count(),
                "workers": args.workers,
                "baseline_s": round(base_s, 2),
                "baseline_events_per_s": round(args.events / base_s),
                "activity_s": round(act_s, 2),
                "activity_events_per_s": round(args.events / act_s),
                "activity_vs_baseline": round(act_s / base_s, 2),
                "session_calls": base_count,
                "found": result["kinds"],
                "own_calls_matched": result["kinds"].get("session") == base_count,
                "malformed": result["bad"],
                "loadavg_1m": load,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
