"""The folder source and the Athena source agree on the same events, through the CLI.

One organisation trail's files are written once. ``sentinel audit … --source DIR`` reads them
directly. For ``--source athena:trail.org``, DuckDB runs the generated query over the same
files (see athenahelpers.py), the rows are queued in moto's Athena, and the installed
``sentinel`` runs the whole Athena path: start, poll, page, classify against the session table.
The query moto received is checked to be the one DuckDB ran.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from athenahelpers import (
    athena_client,
    athena_result,
    deliver,
    duck_table,
    queue_result,
    run_audit_sql,
)
from audithelpers import (
    ACCOUNT,
    DEV_ROLE,
    OTHER_ACCOUNT,
    T0,
    assume_role,
    by_service,
    cross_account_pair,
    failed,
    federation_token,
    other_event,
    revoke,
    saml,
    session,
    session_token,
    web_identity,
)

from sentinelgw.audit.athena_sql import audit_query
from sentinelgw.timeutil import iso

Run = Callable[..., subprocess.CompletedProcess[str]]
START, END = T0 - timedelta(hours=1), T0 + timedelta(hours=2)
WINDOW = ["--since", iso(START) or "", "--until", iso(END) or ""]
OUTPUT = ["--athena-output", "s3://athena-results/agreement/"]


def m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def trail(tmp_path: Path, store: Any) -> Path:
    """An organisation trail holding every category, duplicates and files out of the window."""
    root = tmp_path / "bucket"
    alice = session(store, at=T0)
    bob = session(store, user="bob", at=T0)
    carol = session(store, user="carol", at=T0)
    revoke(store, carol, m(20))
    main = [
        assume_role(at=m(5), source_identity=alice),  # tracked
        assume_role(at=m(6), source_identity=alice),  # tracked
        assume_role(at=m(7), source_identity=bob, role_arn=DEV_ROLE),  # replayed: other role
        assume_role(at=m(30), source_identity=carol),  # replayed: after its revocation
        assume_role(at=m(90), source_identity=bob),  # replayed: after its expiry
        assume_role(at=m(1), source_identity="sentinel.mallory.00000000deadbeef"),  # orphaned
        assume_role(at=m(2), chained=alice),  # inherited, but the caller is on another role
        assume_role(at=m(3)),
        assume_role(at=m(4)),
        assume_role(at=m(8), principal_id="AIDAEXAMPLEBOB"),  # no SourceIdentity x3
        assume_role(at=m(9), source_identity="ci-runner-1"),
        assume_role(at=m(10), source_identity="ci-runner-1"),  # non-Sentinel format
        failed(assume_role(at=m(11))),
        failed(assume_role(at=m(12), source_identity=alice), "ExpiredToken", keep_params=True),
        by_service(at=m(13)),
        by_service("ec2.amazonaws.com", at=m(14)),
        saml(at=m(15)),
        saml(at=m(16), source_identity="sentinel.alice.0123456789abcdef"),
        web_identity(at=m(17)),
        web_identity(at=m(18), source_identity="gha-deploy"),
        session_token(at=m(19)),
        federation_token(at=m(21)),
        other_event(m(22)),
        assume_role(at=START - timedelta(seconds=1)),  # just outside the window
    ]
    caller_copy, role_copy = cross_account_pair(at=m(23), source_identity=alice)
    plain_caller, plain_role = cross_account_pair(at=m(24))
    deliver(root, [*main, caller_copy, plain_caller], folder_day=T0, account=ACCOUNT)
    deliver(root, [role_copy, plain_role], folder_day=T0, account=OTHER_ACCOUNT)
    deliver(root, main[:4], folder_day=T0, account=ACCOUNT)  # a file delivered twice
    # The window's last minutes, delivered into the next day's folder: read by both.
    deliver(root, [assume_role(at=END - timedelta(minutes=2))], folder_day=END + timedelta(days=1))
    # In the window, but in a folder two days later: outside the partitions, read by neither.
    deliver(root, [assume_role(at=m(25))], folder_day=END + timedelta(days=2))
    return root


def athena_rows(root: Path) -> list[dict[str, str | None]]:
    con = duckdb.connect()
    duck_table(con, root, "trail", "org")
    return run_audit_sql(con, audit_query("trail", "org", START, END))


def both(
    run_sentinel: Run, env: dict[str, str], sandbox: Any, root: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    folder = run_sentinel(["audit", *args, *WINDOW, "--source", str(root)], env=env)
    athena = athena_client(sandbox)
    before = set(athena.list_query_executions()["QueryExecutionIds"])
    queue_result(sandbox, athena_result(athena_rows(root)))
    via_athena = run_sentinel(
        ["audit", *args, *WINDOW, "--source", "athena:trail.org", *OUTPUT], env=env
    )
    new = [q for q in athena.list_query_executions()["QueryExecutionIds"] if q not in before]
    assert len(new) == 1, via_athena.stderr
    sent = athena.get_query_execution(QueryExecutionId=new[0])["QueryExecution"]
    assert sent["Query"] == audit_query("trail", "org", START, END)
    assert f"Athena query {new[0]} in workgroup primary scanned" in via_athena.stderr
    return folder, via_athena


def weighted(items: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for i in items:
        out[
            (
                i["category"],
                i["event_name"],
                i["role_arn"],
                i["caller_arn"],
                i["error_code"],
                i["invoked_by"],
                i["source_identity"],
                i["profile"],
            )
        ] += i["count"]
    return out


def sentinel_events(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (i for i in items if (i["source_identity"] or "").startswith("sentinel.")),
        key=lambda i: i["event_id"],
    )


def test_untracked_sessions_agree(
    run_sentinel: Run, audit_env: dict[str, str], sandbox: Any, trail: Path
) -> None:
    folder, athena = both(
        run_sentinel, audit_env, sandbox, trail, "untracked-sessions", "--all", "--format", "json"
    )
    assert folder.returncode == athena.returncode == 1, (folder.stderr, athena.stderr)
    f, a = json.loads(folder.stdout), json.loads(athena.stdout)
    for key in (
        "counts",
        "total_events",
        "tracked_events",
        "untracked_events",
        "orphaned_events",
        "start_time",
        "end_time",
    ):
        assert f[key] == a[key], key
    # replayed: bob on dev, carol after revocation, bob after expiry, the chained call (the
    # caller's role is not alice's), alice's value on the other account's role.
    # no_source_identity: 3 AssumeRole, SAML, web identity, GetSessionToken,
    # GetFederationToken, the plain cross-account pair (once), the late delivery.
    assert f["counts"] == {
        "failed": 2,
        "aws_service": 2,
        "tracked": 2,
        "replayed": 5,
        "orphaned": 2,
        "non_sentinel_format": 3,
        "no_source_identity": 9,
    }
    # The Sentinel-format events come back one by one, exactly as the folder source reads them.
    assert sentinel_events(a["events"]) == sentinel_events(f["events"])
    assert all(i["count"] == 1 for i in sentinel_events(a["events"]))
    # Everything else is grouped by Athena, with the same totals per kind of event.
    assert weighted(a["events"]) == weighted(f["events"])
    assert len(a["events"]) < len(f["events"])
    assert a["athena"]["result_rows"] == len(a["events"])


def test_session_compliance_agrees(
    run_sentinel: Run, audit_env: dict[str, str], sandbox: Any, trail: Path
) -> None:
    folder, athena = both(
        run_sentinel, audit_env, sandbox, trail, "session-compliance", "--format", "json"
    )
    assert folder.returncode == athena.returncode, (folder.stderr, athena.stderr)
    f, a = json.loads(folder.stdout), json.loads(athena.stdout)
    assert f["profiles"] == a["profiles"]
    assert f["summary"] == a["summary"]
    assert a["summary"]["total_events"] == 25


def test_human_output_says_how_many_events_a_row_stands_for(
    run_sentinel: Run, audit_env: dict[str, str], sandbox: Any, tmp_path: Path
) -> None:
    deliver(tmp_path, [assume_role(at=m(i)) for i in range(3)], folder_day=T0)
    queue_result(sandbox, athena_result(athena_rows(tmp_path)))
    res = run_sentinel(
        ["audit", "untracked-sessions", *WINDOW, "--source", "athena:trail.org", *OUTPUT],
        env=audit_env,
    )
    assert res.returncode == 1, res.stderr
    assert "3 like this one (counted by Athena)" in res.stdout
    assert "3 STS issuance events" in res.stdout and "3 untracked" in res.stdout
