"""``sentinel audit session-activity`` over a folder of log files, and its bad input."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from audithelpers import ACCOUNT, PROD_ROLE, REGION, T0, assume_role, new_id, write_log

from sentinelgw.sessions.model import SessionRecord
from sentinelgw.timeutil import iso

HOP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-hop"


def tracked(store: Any, *, keys: tuple[str, ...] = (), at: datetime = T0) -> tuple[str, str]:
    """A session record with access keys; returns (id, SourceIdentity)."""
    ident = new_id()
    si = f"sentinel.alice.{ident}"
    store.create(
        SessionRecord.new(
            id=ident,
            user="alice",
            profile="prod",
            role_arn=PROD_ROLE,
            started_at=at,
            expires_at=at + timedelta(hours=1),
            server_instance_id="srv-test",
            source_identity=si,
            host="laptop",
        )
    )
    if keys:
        store.add_access_keys(ident, keys)
    return ident, si


def call(
    *,
    at: datetime,
    key: str,
    si: str | None,
    role: str = PROD_ROLE,
    source: str = "s3.amazonaws.com",
    name: str = "GetObject",
    resources: tuple[str, ...] = (),
    error: str | None = None,
    agent: str = "aws-cli/2.15.0",
) -> dict[str, Any]:
    """A call made with a role session's key, in CloudTrail's shape."""
    ctx: dict[str, Any] = {"sessionIssuer": {"type": "Role", "arn": role}}
    if si:
        ctx["sourceIdentity"] = si
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:s",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/s",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "sessionContext": ctx,
        },
        "eventTime": iso(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": agent,
        "requestParameters": {"bucketName": "b", "key": "k"},
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "recipientAccountId": ACCOUNT,
        "resources": [{"type": "AWS::S3::Object", "ARN": a} for a in resources],
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = "Access Denied"
    return rec


def activity(run_sentinel: Any, env: dict[str, str], *args: str) -> Any:
    return run_sentinel(["audit", "session-activity", *args], env=env)


def _incident(store: Any, root: Path) -> str:
    """A session's issuing call, two own calls (one denied), a chained call, a stranger's."""
    sid, si = tracked(store, keys=("ASIASESSIONKEY0001",))
    issue = assume_role(at=T0 + timedelta(seconds=1), source_identity=si)
    own = call(
        at=T0 + timedelta(minutes=1),
        key="ASIASESSIONKEY0001",
        si=si,
        resources=("arn:aws:s3:::b/k",),
    )
    denied = call(
        at=T0 + timedelta(minutes=2),
        key="ASIASESSIONKEY0001",
        si=si,
        name="PutObject",
        error="AccessDenied",
    )
    hop = call(
        at=T0 + timedelta(minutes=3),
        key="ASIACHAINEDKEY0002",
        si=si,
        role=HOP_ROLE,
        source="sts.amazonaws.com",
        name="GetCallerIdentity",
    )
    stranger = call(at=T0 + timedelta(minutes=4), key="ASIAOTHERKEY000003", si="sentinel.bob.x")
    write_log(root, [issue, own, stranger])
    write_log(root, [denied, hop, own])  # a file delivered twice holds `own` again
    return sid


def test_folder_lists_the_sessions_calls_with_the_chained_session_marked(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid = _incident(store, tmp_path)
    out = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    got = [(e["kind"], e["service"], e["action"], e["error_code"]) for e in doc["events"]]
    assert got == [
        ("issued", "sts.amazonaws.com", "AssumeRole", None),
        ("session", "s3.amazonaws.com", "GetObject", None),
        ("session", "s3.amazonaws.com", "PutObject", "AccessDenied"),
        ("chained", "sts.amazonaws.com", "GetCallerIdentity", None),
    ]
    first = doc["events"][1]
    assert first["resources"] == ["arn:aws:s3:::b/k"]
    assert first["source_ip"] == "198.51.100.7" and first["user_agent"] == "aws-cli/2.15.0"
    assert first["access_key_id"] == "ASIASESSIONKEY0001"
    assert doc["sessions"][0]["access_key_ids"] == ["ASIASESSIONKEY0001"]
    assert doc["counts"] == {"events": 4, "session": 2, "chained": 1, "issued": 1, "errors": 1}


def test_human_report_marks_the_chained_call_and_the_error(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid = _incident(store, tmp_path)
    human = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path))
    assert human.returncode == 0, human.stderr
    assert "sts:GetCallerIdentity  [chained]" in human.stdout
    assert "error AccessDenied" in human.stdout


def test_several_sessions_in_one_report(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    a, si_a = tracked(store, keys=("ASIASESSIONAAAA001",))
    b, si_b = tracked(store, keys=("ASIASESSIONBBBB002",), at=T0 + timedelta(minutes=10))
    write_log(
        tmp_path,
        [
            call(at=T0 + timedelta(minutes=1), key="ASIASESSIONAAAA001", si=si_a),
            call(at=T0 + timedelta(minutes=11), key="ASIASESSIONBBBB002", si=si_b),
        ],
    )
    out = activity(
        run_sentinel, audit_env, f"{a},{b}", "--source", str(tmp_path), "--format", "json"
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [s["id"] for s in doc["sessions"]] == [a, b]
    assert [e["session_id"] for e in doc["events"]] == [a, b]


def test_unknown_session_id_is_a_one_line_error(
    audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    unknown = new_id()
    out = activity(run_sentinel, audit_env, unknown, "--source", str(tmp_path))
    assert out.returncode == 2
    assert f"unknown session {unknown}" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2 and "Traceback" not in out.stderr
    bad = activity(run_sentinel, audit_env, "not-an-id", "--source", str(tmp_path))
    assert bad.returncode == 2 and "is not a session id" in bad.stderr


def test_unreadable_log_file_fails_closed(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid, si = tracked(store, keys=("ASIASESSIONKEY0001",))
    write_log(tmp_path, [call(at=T0, key="ASIASESSIONKEY0001", si=si)])
    broken = write_log(tmp_path, [])
    broken.write_bytes(b"\x1f\x8b\x08\x00broken")
    out = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path), "--format", "json")
    assert out.returncode == 2 and broken.name in out.stderr and not out.stdout
    allowed = activity(
        run_sentinel,
        audit_env,
        sid,
        "--source",
        str(tmp_path),
        "--allow-unreadable",
        "--format",
        "json",
    )
    assert allowed.returncode == 0, allowed.stderr
    doc = json.loads(allowed.stdout)
    assert len(doc["events"]) == 1 and doc["unreadable_files"] == [str(broken)]


def test_missing_folder_source_fails_closed(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid, _ = tracked(store, keys=("ASIASESSIONKEY0001",))
    out = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path / "nope"))
    assert out.returncode == 2 and "is not a folder" in out.stderr


def test_hostile_cloudtrail_fields_are_rendered_inert(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid, si = tracked(store, keys=("ASIASESSIONKEY0001",))
    agent = '=HYPERLINK("http://x")\x1b[2J\u202eevil\nforged line'
    write_log(
        tmp_path,
        [call(at=T0, key="ASIASESSIONKEY0001", si=si, agent=agent, name="Get\x1b]0;pwn\x07")],
    )
    human = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path))
    assert human.returncode == 0, human.stderr
    assert "\x1b" not in human.stdout and "\u202e" not in human.stdout
    assert "forged line" in human.stdout and "\nforged line" not in human.stdout
    table = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert len(rows) == 1 and rows[0]["user_agent"].startswith("'=HYPERLINK")


def test_record_without_keys_on_lookup_events_names_the_limit(
    store: Any, audit_env: dict[str, str], run_sentinel: Any
) -> None:
    sid, _ = tracked(store)
    out = activity(run_sentinel, audit_env, sid)
    assert out.returncode == 2
    assert "no session has recorded access keys" in out.stderr
    assert "--source" in out.stderr


def test_window_beyond_lookup_events_is_warned(
    store: Any, audit_env: dict[str, str], run_sentinel: Any
) -> None:
    sid, _ = tracked(store, keys=("ASIASESSIONKEY0001",))
    out = activity(run_sentinel, audit_env, sid, "--since", "120d", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert "LookupEvents keeps only the last 90 days" in out.stderr


def test_s3_source_lists_the_sessions_calls(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, s3: Any, bucket: str
) -> None:
    from audithelpers import gz_records, log_key

    sid, si = tracked(store, keys=("ASIASESSIONKEY0001",))
    own = call(at=T0 + timedelta(minutes=1), key="ASIASESSIONKEY0001", si=si)
    s3.put_object(Bucket=bucket, Key=log_key(T0, prefix="trail"), Body=gz_records([own]))
    out = activity(
        run_sentinel, audit_env, sid, "--source", f"s3://{bucket}/trail", "--format", "json"
    )
    assert out.returncode == 0, out.stderr
    assert [e["event_id"] for e in json.loads(out.stdout)["events"]] == [own["eventID"]]


def test_a_mistyped_record_costs_only_itself(
    store: Any, audit_env: dict[str, str], run_sentinel: Any, tmp_path: Path
) -> None:
    sid, si = tracked(store, keys=("ASIASESSIONKEY0001",))
    good = call(at=T0 + timedelta(minutes=1), key="ASIASESSIONKEY0001", si=si)
    odd = call(at=T0 + timedelta(minutes=2), key="ASIASESSIONKEY0001", si=si)
    odd["requestParameters"] = {"sourceIdentity": 7}  # a type surprise: the careful path
    odd["resources"] = "not a list"
    write_log(tmp_path, [good, odd, "not a record"])
    out = activity(run_sentinel, audit_env, sid, "--source", str(tmp_path), "--format", "json")
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert [e["event_id"] for e in events] == [good["eventID"], odd["eventID"]]
    assert events[1]["resources"] == []
    assert "skipped 1 malformed CloudTrail record" in out.stderr
