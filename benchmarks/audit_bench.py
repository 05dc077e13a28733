"""Benchmark: cross-reference N CloudTrail STS issuance events (default 1,000,000) with the table.

Usage::

    python benchmarks/audit_bench.py [--events 1000000] [--identities 10000] [--workers 4]

It writes gzip log files in CloudTrail's S3 delivery layout into a temp dir (1,000 records a
file, one in ten records a non-AssumeRole event, spread over 10 days and 2 regions), starts
moto's server in a child process on 127.0.0.1 (a child, so it does not compete for this
process's GIL), and seeds a session table in which a fifth of the distinct Sentinel
SourceIdentities have a record. Then it measures:

- ``baseline``: the same files read with the standard library alone (gzip + json, counting
  AssumeRole records, no classification);
- ``audit``: the folder source + deduplication + classification against the table, counted
  per profile as ``sentinel audit session-compliance --source DIR`` does.

It prints a table and one JSON summary line: events/s, wall time, and session-store reads per
distinct SourceIdentity (1.0 means each one was read exactly once).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import start_moto  # noqa: E402

from sentinelgw.audit.classify import Classifier
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.pipeline import Deduplicator
from sentinelgw.audit.profiles import ProfileResolver
from sentinelgw.audit.report import build_compliance
from sentinelgw.audit.sources import folder_events
from sentinelgw.audit.window import Window
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.schema import ensure_table
from sentinelgw.sessions.store import SessionStore
from sentinelgw.timeutil import iso

REGION = "us-east-1"
ACCOUNT = "123456789012"
START = datetime(2026, 1, 10, tzinfo=UTC)
DAYS = 10
PER_FILE = 1000
ROLES = {f"arn:aws:iam::{ACCOUNT}:role/sentinel-{p}": p for p in ("prod", "dev", "staging")}


def ddb_client(url: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def identities(n: int) -> list[str]:
    return [f"sentinel.user{i % 500}.{secrets.token_hex(8)}" for i in range(n)]


def role_of(sid: str) -> str:
    """The role a Sentinel identity's session is for (its events use the same role)."""
    return list(ROLES)[int(sid[-2:], 16) % len(ROLES)]


def seed_table(client: Any, table: str, tracked: list[str]) -> None:
    ensure_table(client, table)
    items = []
    for sid in tracked:
        ident = sid.rsplit(".", 1)[1]
        role = role_of(sid)
        # Sessions whose lifetime covers the whole span, so their events are tracked.
        rec = SessionRecord.new(
            id=ident,
            user=sid.split(".")[1],
            profile=ROLES[role],
            role_arn=role,
            started_at=START,
            expires_at=START + timedelta(days=DAYS + 1),
            server_instance_id="bench",
            source_identity=sid,
            host="h",
        )
        items.append({"PutRequest": {"Item": rec.to_item()}})
    for i in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: items[i : i + 25]})


def record(rng: random.Random, at: datetime, sids: list[str]) -> dict[str, Any]:
    role = rng.choice(list(ROLES))
    roll = rng.random()
    sid = (
        rng.choice(sids)
        if roll < 0.7
        else None
        if roll < 0.85
        else f"ci-runner-{rng.randrange(50)}"
    )
    if sid and sid.startswith("sentinel."):
        role = role_of(sid)
    name = sid or f"botocore-session-{int(at.timestamp())}"
    params: dict[str, Any] = {"roleArn": role, "roleSessionName": name, "durationSeconds": 3600}
    resp: dict[str, Any] = {
        "credentials": {"accessKeyId": "ASIABENCH", "expiration": "Jan 10, 2026 1:00:00 PM"},
        "assumedRoleUser": {
            "assumedRoleId": f"AROABENCH:{name}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/r/{name}",
        },
    }
    if sid:
        params["sourceIdentity"] = sid
        resp["sourceIdentity"] = sid
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDABENCHUSER",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/u",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIABENCH",
            "userName": "u",
        },
        "eventTime": iso(at),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": resp,
        "requestID": secrets.token_hex(16),
        "eventID": secrets.token_hex(16),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def other(at: datetime) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": iso(at),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": REGION,
        "eventID": secrets.token_hex(16),
        "userIdentity": {"type": "IAMUser", "principalId": "AIDABENCHUSER"},
        "requestParameters": None,
        "responseElements": None,
    }


def generate(root: Path, n: int, sids: list[str]) -> int:
    """Write ``n`` AssumeRole events (plus 10% other events) in the delivery layout."""
    rng = random.Random(7)
    span = DAYS * 86400
    written = files = 0
    while written < n:
        count = min(PER_FILE, n - written)
        at = START + timedelta(seconds=span * written / n)
        region = ("us-east-1", "eu-west-1")[files % 2]
        recs: list[dict[str, Any]] = []
        for i in range(count):
            when = at + timedelta(seconds=i % 300)
            recs.append(record(rng, when, sids))
            if i % 9 == 0:
                recs.append(other(when))
        day = root / "AWSLogs" / ACCOUNT / "CloudTrail" / region / f"{at:%Y/%m/%d}"
        day.mkdir(parents=True, exist_ok=True)
        name = f"{ACCOUNT}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{secrets.token_hex(8)}.json.gz"
        # Level 1 only to make generation quicker; reading cost barely depends on the level.
        (day / name).write_bytes(gzip.compress(json.dumps({"Records": recs}).encode(), 1))
        written += count
        files += 1
    return files


def baseline(root: Path) -> int:
    count = 0
    for path in sorted(root.rglob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            doc = json.load(fh)
        count += sum(1 for r in doc["Records"] if r.get("eventName") == "AssumeRole")
    return count


def audit(root: Path, store: SessionStore, window: Window, workers: int) -> dict[str, Any]:
    stats = ParseStats()
    resolver = ProfileResolver({arn: [p] for arn, p in ROLES.items()})
    classifier = Classifier(store, resolver, table=store.table)
    dedup = Deduplicator(stats)
    events = classifier.classify(dedup.filter(folder_events(root, window, stats, workers=workers)))
    report = build_compliance(events, window, lambda p: p == "prod")
    return {
        "events": report.total_events,
        "tracked": report.tracked_events,
        "malformed": stats.malformed,
        "unreadable": len(stats.unreadable),
        "distinct": classifier.stats.distinct_ids,
        "batch_calls": classifier.stats.batch_calls,
        "files": stats.files,
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--identities", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    root = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    proc, url = start_moto()
    try:
        sids = identities(args.identities)
        t = time.perf_counter()
        files = generate(root, args.events, sids)
        gen_s = time.perf_counter() - t
        client = ddb_client(url)
        store = SessionStore(client, "bench-sessions")
        seed_table(client, store.table, sids[: len(sids) // 5])
        window = Window(START, START + timedelta(days=DAYS))

        load = round(os.getloadavg()[0], 2)
        t = time.perf_counter()
        base_count = baseline(root)
        base_s = time.perf_counter() - t
        base_rss = peak_rss_mib()
        t = time.perf_counter()
        result = audit(root, store, window, args.workers)
        audit_s = time.perf_counter() - t
        audit_rss = peak_rss_mib()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    reads_per_id = store.read_calls / result["distinct"] if result["distinct"] else 0.0
    rows = [
        ("baseline (gzip + json)", base_count, base_s),
        ("audit (source + classify)", result["events"], audit_s),
    ]
    print(
        f"{args.events:,} STS issuance events in {files:,} files (generated in {gen_s:.1f}s), "
        f"{os.cpu_count()} CPUs, {args.workers} reader threads"
    )
    print(f"{'variant':<28}{'events':>12}{'wall s':>10}{'events/s':>14}")
    for name, count, secs in rows:
        print(f"{name:<28}{count:>12,}{secs:>10.2f}{count / secs:>14,.0f}")
    print(
        f"distinct Sentinel identities {result['distinct']:,}, store keys read "
        f"{store.read_calls:,} ({reads_per_id:.2f} per identity) in "
        f"{store.batch_calls:,} BatchGetItem calls; tracked {result['tracked']:,}"
    )
    print(
        json.dumps(
            {
                "events": args.events,
                "files": files,
                "cpus": os.cpu_count(),
                "workers": args.workers,
                "baseline_s": round(base_s, 2),
                "baseline_events_per_s": round(base_count / base_s),
                "audit_s": round(audit_s, 2),
                "audit_events_per_s": round(result["events"] / audit_s),
                "audit_vs_baseline": round(audit_s / base_s, 2),
                "distinct_identities": result["distinct"],
                "store_keys_read": store.read_calls,
                "store_reads_per_identity": round(reads_per_id, 3),
                "batch_get_calls": store.batch_calls,
                "tracked_events": result["tracked"],
                "events_matched": result["events"] == base_count,
                "loadavg_1m": load,
                "peak_rss_mib_after_baseline": base_rss,
                "peak_rss_mib_after_audit": audit_rss,
            }
        )
    )


if __name__ == "__main__":
    main()
