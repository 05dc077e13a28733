"""Benchmark: ``sentinel server-revoke --user NAME`` over 100 active sessions, table and IAM.

Usage::

    python benchmarks/revoke_user_bench.py [--sessions 100] [--baseline 10] [--repeats 3]

Each repeat writes ``--sessions`` active session records of a fresh user on the sandbox's
``prod`` role into the sandbox's session table (their credentials still valid), then times the
installed ``sentinel server-revoke --user USER --reason bench`` from start to exit and checks
that every record is revoked and every SourceIdentity (or the user's wildcard) is in
``SentinelRevokedSessions``. Target: at most 10 s for 100 sessions.

Baseline, same run: the way a user's sessions were revoked before, one session at a time
(:func:`sentinelgw.sessions.revocation.revoke.revoke_session` per session: its record,
then its own IAM read-merge-write with the half-second settle), over ``--baseline`` sessions;
its per-session time times ``--sessions`` is what the sequential revocation would have taken.
The sandbox applies a policy at once; on AWS add IAM's propagation (seconds to a few minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Bench,
    describe,
    machine,
    median,
    print_summary,
    print_table,
    ratio,
    sandbox,
    sentinel_bin,
    verdict,
)

TARGET_S = 10.0


def seed(bench: Bench, user: str, count: int) -> list[Any]:
    """``count`` live records of ``user`` on the prod role, written with BatchWriteItem."""
    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.sourceidentity import format_source_identity, new_id

    sb = bench.sb
    now = datetime.now(UTC)
    records = []
    for _ in range(count):
        sid = new_id()
        records.append(
            SessionRecord.new(
                id=sid,
                user=user,
                profile="prod",
                role_arn=sb.role_arns["prod"],
                started_at=now - timedelta(minutes=1),
                expires_at=now + timedelta(hours=1),
                server_instance_id="bench",
                source_identity=format_source_identity(user, sid),
                host="bench",
            )
        )
    ddb = client(bench, "dynamodb")
    for start in range(0, len(records), 25):
        pending: dict[str, Any] = {
            sb.table: [{"PutRequest": {"Item": r.to_item()}} for r in records[start : start + 25]]
        }
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return records


def client(bench: Bench, service: str) -> Any:
    """A boto3 client on the sandbox with moto's placeholder keys (the bench's own calls)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=bench.sb.endpoint_url,
        region_name=bench.sb.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def check(bench: Bench, records: list[Any]) -> tuple[int, int]:
    """(records revoked, SourceIdentities denied) after a run."""
    import fnmatch

    from sentinelgw.sessions.revocation.deny_document import revoked_entries, wildcard_entries
    from sentinelgw.sessions.store import SessionStore

    store = SessionStore(client(bench, "dynamodb"), bench.sb.table)
    stored = store.batch_get(r.id for r in records)
    revoked = sum(1 for r in stored.values() if r.status == "revoked")
    iam = client(bench, "iam")
    role = bench.sb.role_arns["prod"].rsplit("/", 1)[-1]
    doc = iam.get_role_policy(RoleName=role, PolicyName="SentinelRevokedSessions")
    document = doc["PolicyDocument"]
    named = set().union(*revoked_entries(document).values())
    patterns = set().union(*wildcard_entries(document).values())
    denied = sum(
        1
        for r in records
        if r.source_identity in named
        or any(fnmatch.fnmatchcase(r.source_identity, p) for p in patterns)
    )
    return revoked, denied


def sequential(bench: Bench, records: list[Any]) -> float:
    """The old way: one revoke_session per session (record, then its own IAM write)."""
    from sentinelgw.sessions.revocation.revoke import revoke_session
    from sentinelgw.sessions.store import SessionStore

    store = SessionStore(client(bench, "dynamodb"), bench.sb.table)
    iam = client(bench, "iam")
    start = time.perf_counter()
    for r in records:
        revoke_session(
            store, iam, r.id, by="bench", reason="bench", now=datetime.now(UTC), soft=False
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100, choices=range(1, 1001), metavar="N")
    parser.add_argument("--baseline", type=int, default=10, choices=range(1, 101), metavar="N")
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, 11), metavar="N")
    args = parser.parse_args()
    mach = machine()
    rows = []
    runs: list[dict[str, Any]] = []
    with sandbox() as bench:
        for n in range(args.repeats):
            base_records = seed(bench, f"base{n}", args.baseline)
            base_s = sequential(bench, base_records)
            per_session = base_s / args.baseline
            user = f"bulk{n}"
            records = seed(bench, user, args.sessions)
            start = time.perf_counter()
            proc = subprocess.run(
                [sentinel_bin(), "server-revoke", "--user", user, "--reason", "bench"],
                env=bench.env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            took = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"server-revoke failed: {proc.stderr.strip()[-500:]}")
            revoked, denied = check(bench, records)
            run = {
                "sessions": args.sessions,
                "revoke_s": round(took, 3),
                "revoked": revoked,
                "denied": denied,
                "sequential_per_session_s": round(per_session, 3),
                "sequential_estimate_s": round(per_session * args.sessions, 3),
            }
            runs.append(run)
            rows.append(
                (
                    n + 1,
                    run["revoke_s"],
                    f"{revoked}/{args.sessions}",
                    f"{denied}/{args.sessions}",
                    run["sequential_per_session_s"],
                    run["sequential_estimate_s"],
                )
            )
    took_median = median([r["revoke_s"] for r in runs])
    estimate = median([r["sequential_estimate_s"] for r in runs])
    complete = all(r["revoked"] == r["denied"] == args.sessions for r in runs)
    print(f"{describe(mach)}; sandbox (a policy applies at once; AWS adds its propagation)")
    print_table(
        [
            "repeat",
            f"revoke {args.sessions} s",
            "records revoked",
            "identities denied",
            "sequential s/session",
            f"sequential x{args.sessions} s",
        ],
        rows,
    )
    met = took_median <= TARGET_S and complete
    print(
        f"server-revoke --user over {args.sessions} sessions: median {took_median:.3f} s "
        f"(target {TARGET_S:.0f} s: {verdict(met)}); one session at a time it would take about "
        f"{estimate:.1f} s: {ratio(estimate, took_median)}x faster"
    )
    print_summary(
        {
            "benchmark": "revoke_user",
            **mach,
            "runs": runs,
            "revoke_median_s": took_median,
            "sequential_estimate_median_s": estimate,
            "speedup": ratio(estimate, took_median),
            "target_s": TARGET_S,
            "target": verdict(met),
        }
    )


if __name__ == "__main__":
    main()
