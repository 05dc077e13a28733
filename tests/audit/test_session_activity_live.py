"""``audit session-activity`` on what a child of ``sentinel exec --server`` really did."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from tests.audit.audithelpers import ACTIVITY_CHILD as CHILD

PY = sys.executable


# Two sentinel processes and a boto3 child: about 5 s on an idle machine, near 10 s under load.
@pytest.mark.slow
def test_exec_server_child_calls_are_listed_with_the_chained_session_marked(
    sandbox: Any, sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    env = {**sandbox_env, "BUCKET": "activity-live", "HOP_ROLE": sandbox.role_arns["prod"]}
    out = run_sentinel(["exec", "--server", "--profile", "dev", "--", PY, "-c", CHILD], env=env)
    assert out.returncode == 0, out.stderr
    sid = out.stdout.split()[0]
    report = run_sentinel(["audit", "session-activity", sid, "--format", "json"])
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    (session,) = doc["sessions"]
    assert session["access_key_ids"], "the record keeps the key it was issued"
    got = [(e["kind"], e["service"], e["action"]) for e in doc["events"]]
    assert got == [
        ("session", "s3.amazonaws.com", "CreateBucket"),
        ("session", "s3.amazonaws.com", "ListBuckets"),
        ("session", "sts.amazonaws.com", "GetCallerIdentity"),
        ("session", "sts.amazonaws.com", "AssumeRole"),
        ("chained", "s3.amazonaws.com", "ListObjectsV2"),
    ]
    assert doc["events"][0]["resources"] == ["arn:aws:s3:::activity-live"]
    assert all(e["access_key_id"] in session["access_key_ids"] for e in doc["events"][:4])
    assert doc["events"][4]["access_key_id"] not in session["access_key_ids"]
