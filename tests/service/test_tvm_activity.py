"""On the enforced sandbox: what alice's child did through a service session, audited.

Chaining is shown on the plain sandbox (tests/audit/test_session_activity_live.py): here the
roles trust only alice and the service, so the child's chained AssumeRole is denied, and the
report shows the denied attempt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SENTINEL = str(Path(sys.executable).parent / "sentinel")
CHILD = """
import boto3
sts = boto3.client("sts")
arn = sts.get_caller_identity()["Arn"]
si = arn.rsplit("/", 1)[1]
print(si.rsplit(".", 1)[1])
boto3.client("s3").list_buckets()
try:  # the dev role trusts alice and the service, not the prod role: denied, and recorded
    sts.assume_role(
        RoleArn=arn.split(":assumed-role/")[0].replace(":sts:", ":iam:") + ":role/sentinel-dev",
        RoleSessionName="hop",
        SourceIdentity=si,
    )
except Exception as exc:
    print(type(exc).__name__)
"""


def sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


# Two sentinel processes and a boto3 child on the enforced sandbox.
@pytest.mark.slow
def test_service_session_activity_lists_the_childs_s3_and_sts_calls_and_the_denied_hop(
    alice_env,
):
    done = sentinel(["exec", "--profile", "prod", "--", sys.executable, "-c", CHILD], alice_env)
    assert done.returncode == 0, done.stderr
    sid = done.stdout.split()[0]
    report = sentinel(
        ["audit", "session-activity", sid, "--aws-profile", "security", "--format", "json"],
        alice_env,
    )
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    (session,) = doc["sessions"]
    assert session["access_key_ids"], "the service recorded the key it handed out"
    got = [(e["kind"], e["service"], e["action"]) for e in doc["events"]]
    assert got == [
        ("session", "sts.amazonaws.com", "GetCallerIdentity"),
        ("session", "s3.amazonaws.com", "ListBuckets"),
        ("session", "sts.amazonaws.com", "AssumeRole"),
    ]
    assert [e["error_code"] for e in doc["events"]] == [None, None, "AccessDenied"]
    assert all(e["access_key_id"] in session["access_key_ids"] for e in doc["events"])
