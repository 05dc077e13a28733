"""The installed ``sentinel`` against the sandbox: init, list/export, show, revoke, errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sessionhelpers import record, seed

from sentinelgw.sessions.model import EXPORT_FIELDS
from sentinelgw.sessions.schema import ensure_table

Run = Callable[..., Any]


@pytest.fixture
def run_sentinel(sandbox_env: dict[str, str], run_sentinel: Run) -> Run:
    """The shared runner, with the sandbox's IAM user as Sentinel's own credentials."""
    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    base = dict(sandbox_env, AWS_PROFILE=SOURCE_PROFILE)

    def run(args: list[str], env: dict[str, str] | None = None, **kw: Any) -> Any:
        return run_sentinel(args, env=dict(base, **(env or {})), **kw)

    return run


def assert_one_line_error(proc: Any, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sentinel: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_init_creates_then_is_idempotent(run_sentinel: Run, ddb: Any, table_name: str) -> None:
    plan = run_sentinel(["init", "sessions", "--table", table_name, "--plan"])
    assert plan.returncode == 0, plan.stderr
    assert "create table" in plan.stdout and "status-index" in plan.stdout
    assert table_name not in ddb.list_tables()["TableNames"]

    made = run_sentinel(["init", "sessions", "--table", table_name, "--yes"])
    assert made.returncode == 0, made.stderr
    assert f"created session table {table_name} in us-east-1" in made.stdout
    assert ddb.describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE"

    again = run_sentinel(["init", "sessions", "--table", table_name])
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout


def test_init_without_yes_and_without_a_tty_exits_2(
    run_sentinel: Run, ddb: Any, table_name: str
) -> None:
    proc = run_sentinel(["init", "sessions", "--table", table_name], input="")
    assert_one_line_error(proc, "--yes")
    assert "create table" in proc.stdout  # the plan was shown
    assert table_name not in ddb.list_tables()["TableNames"]


def test_init_reports_a_different_schema(run_sentinel: Run, ddb: Any, table_name: str) -> None:
    ddb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    proc = run_sentinel(["init", "sessions", "--table", table_name, "--yes"])
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("sentinel: error: table") and "different schema" in lines[-1]
    assert any("key schema is pk HASH" in line for line in lines[:-1])
    assert any("missing index user-index" in line for line in lines[:-1])
    assert "Traceback" not in proc.stderr


def test_generate_iam_prints_three_policies(run_sentinel: Run) -> None:
    proc = run_sentinel(["init", "sessions", "--table", "t1", "--generate-iam"])
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert set(docs) == {"sentinel-users", "security-team", "table-admin"}
    users = {a for s in docs["sentinel-users"]["Statement"] for a in s["Action"]}
    assert "dynamodb:Query" not in users and "dynamodb:PutItem" in users


@pytest.fixture
def listed(ddb: Any, table_name: str) -> str:
    now = datetime.now(UTC)
    ensure_table(ddb, table_name)
    seed(
        ddb,
        table_name,
        [
            record(
                1,
                user="alice",
                started_at=now - timedelta(days=40),
                expires_at=now - timedelta(days=39),
                status="expired",
            ),
            record(
                2,
                user="alice",
                started_at=now - timedelta(hours=2),
                expires_at=now + timedelta(hours=10),
            ),
            record(
                3,
                user="bob",
                started_at=now - timedelta(hours=1),
                expires_at=now - timedelta(minutes=1),
            ),  # stale active: reads expired
        ],
    )
    return table_name


def test_list_json_is_an_array_of_export_objects(run_sentinel: Run, listed: str) -> None:
    proc = run_sentinel(["server-sessions", "--table", listed, "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["id"] for r in rows] == [f"{3:016x}", f"{2:016x}", f"{1:016x}"]
    assert all(tuple(r) == EXPORT_FIELDS for r in rows)
    assert rows[0]["status"] == "expired" and rows[1]["status"] == "active"
    assert rows[1]["started_at"].endswith("Z")


def test_list_csv_since_and_status(run_sentinel: Run, listed: str) -> None:
    proc = run_sentinel(["server-sessions", "--table", listed, "--format", "csv", "--since", "30d"])
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert tuple(rows[0]) == EXPORT_FIELDS
    assert [r[0] for r in rows[1:]] == [f"{3:016x}", f"{2:016x}"]
    expired = run_sentinel(
        ["server-sessions", "--table", listed, "--status", "expired", "--format", "json"]
    )
    assert [r["id"] for r in json.loads(expired.stdout)] == [f"{3:016x}", f"{1:016x}"]
    empty = run_sentinel(
        ["server-sessions", "--table", listed, "--user", "nobody", "--format", "json"]
    )
    assert empty.returncode == 0 and json.loads(empty.stdout) == []


def test_list_human_and_table_from_config(run_sentinel: Run, listed: str, tmp_path: Any) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(f"defaults:\n  session_table: {listed}\n")
    proc = run_sentinel(["server-sessions", "--limit", "2"], env={"SENTINEL_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert f"{3:016x}" in proc.stdout and f"{2:016x}" in proc.stdout
    assert f"{1:016x}" not in proc.stdout


def test_show_one_session(run_sentinel: Run, listed: str) -> None:
    proc = run_sentinel(["server-session", f"{2:016x}", "--table", listed, "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["user"] == "alice"
    human = run_sentinel(["server-session", f"{2:016x}", "--table", listed])
    assert "request_count" in human.stdout and "alice" in human.stdout
    unknown = run_sentinel(["server-session", "f" * 16, "--table", listed])
    assert_one_line_error(unknown, "unknown session ffffffffffffffff")
    bad = run_sentinel(["server-session", "nope", "--table", listed])
    assert_one_line_error(bad, "invalid session id")


def test_revoke_records_the_revoker_and_refuses_twice(
    run_sentinel: Run, listed: str, ddb: Any
) -> None:
    sid = f"{2:016x}"
    # --soft: this record's role does not exist in the sandbox (the IAM step has its own tests)
    proc = run_sentinel(
        ["server-revoke", sid, "--reason", "laptop lost", "--table", listed, "--soft"]
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"revoked session {sid} (user alice, profile prod)"
    assert "not denied by IAM (--soft)" in proc.stdout
    item = ddb.get_item(TableName=listed, Key={"id": {"S": sid}})["Item"]
    assert item["status"]["S"] == "revoked"
    assert item["revoked_reason"]["S"] == "laptop lost"
    assert item["revoked_by"]["S"].startswith("arn:aws:")
    twice = run_sentinel(["server-revoke", sid, "--reason", "again", "--table", listed])
    assert_one_line_error(twice, f"session {sid} is already revoked")
    unknown = run_sentinel(["server-revoke", "e" * 16, "--reason", "x", "--table", listed])
    assert_one_line_error(unknown, "unknown session eeeeeeeeeeeeeeee")


def test_revoke_requires_a_reason(run_sentinel: Run, listed: str) -> None:
    proc = run_sentinel(["server-revoke", f"{2:016x}", "--table", listed])
    assert proc.returncode == 2
    assert "--reason" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_table_is_one_line_with_the_fix(run_sentinel: Run) -> None:
    proc = run_sentinel(["server-sessions", "--table", "absent-table", "--format", "json"])
    assert_one_line_error(
        proc,
        "session table 'absent-table' in us-east-1 was not found",
        "sentinel init sessions --table absent-table --region us-east-1",
    )
    show = run_sentinel(["server-session", "a" * 16, "--table", "absent-table"])
    assert_one_line_error(show, "was not found")


def test_bad_since_is_a_usage_error(run_sentinel: Run, listed: str) -> None:
    proc = run_sentinel(["server-sessions", "--table", listed, "--since", "yesterday"])
    assert_one_line_error(proc, "invalid --since 'yesterday'")
