"""Issue 21's remaining points, on the enforced sandbox: Identity Center group approvers (the
service checks membership itself, fail closed), two approvers, auto-approval, a revoked
user's pending requests, SNS, failed notifications and the sweep without traffic.

The sandbox's document names ``group:Prod Approvers`` (carol is a member, dave is not) of the
sandbox's identity store, and the SNS topic ``sentinel-requests`` with a queue subscribed.
Tests that change approval rules run a second service (:func:`private_service`) as the
sandbox's service user against the same moto, with a document of their own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from approvalhelpers import (
    ANYONE,
    private_service,
    sandbox_document,
    sso_session,
    unenforced,
)
from tvmhelpers import client

from sentinelgw.sandbox.approvers import APPROVER_USER, OUTSIDER_USER, QUEUE_NAME
from sentinelgw.service.client import ServiceRefused, ServiceUnavailable

SENTINEL = str(Path(sys.executable).parent / "sentinel")
PROFILE = "prod-approve"
WHY = "fix incident INC-42 in production"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(list(args), env)


def refused(call: Any) -> str:
    with pytest.raises(ServiceRefused) as err:
        call()
    return err.value.code


def at(url: str, enforced: Any) -> Any:
    return SimpleNamespace(url=url, endpoint=enforced.endpoint)


@pytest.fixture
def clean(alice_env: dict[str, str], enforced: Any, alice: Any, security: Any) -> dict[str, str]:
    """alice and security start without open requests (the sandbox is shared by the tests)."""
    for who in (alice, security):
        c = client(enforced, who)
        for row in c.access_requests(mine=True)["requests"]:
            if row["status"] in ("pending", "approved"):
                c.decide_request(row["id"], "cancel")
    return alice_env


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- Identity Center groups as approvers ---------------------------------------------------


def test_identity_center_group_member_approves_and_others_are_not_approvers(
    clean: dict[str, str], enforced: Any, alice: Any
) -> None:
    a = client(enforced, alice)
    rid = a.request_access(PROFILE, WHY)["id"]
    dave = client(enforced, sso_session(enforced, OUTSIDER_USER))
    assert refused(lambda: dave.decide_request(rid, "approve")) == "NotAnApprover"
    erin = client(enforced, sso_session(enforced, "erin"))  # not in the identity store at all
    assert refused(lambda: erin.decide_request(rid, "approve")) == "NotAnApprover"
    # an IAM role session named carol on a role Identity Center did not make is not carol
    with unenforced(enforced):
        import boto3

        iam = boto3.client("iam", region_name="us-east-1", **ANYONE)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
        name = "AWSReservedSSO_Lookalike_carol"
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]
        creds = boto3.client("sts", region_name="us-east-1", **ANYONE).assume_role(
            RoleArn=role["Arn"], RoleSessionName=APPROVER_USER
        )["Credentials"]
    fake = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    assert refused(lambda: client(enforced, fake).decide_request(rid, "approve")) == (
        "NotAnApprover"
    )
    assert a.access_request(rid)["decisions"] == []
    carol = client(enforced, sso_session(enforced, APPROVER_USER))
    assert rid in [r["id"] for r in carol.access_requests(pending=True)["requests"]]
    row = carol.decide_request(rid, "approve", "checked by the on-call approver")
    assert row["status"] == "approved"
    [decision] = row["decisions"]
    assert decision["by"] == APPROVER_USER and "AWSReservedSSO_" in decision["by_arn"]
    a.decide_request(rid, "cancel")


def test_group_approval_is_refused_when_membership_cannot_be_checked(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any, tmp_path: Path
) -> None:
    import boto3
    from botocore.config import Config

    from sentinelgw.service.groups import IdentityStoreGroups

    dead = f"http://127.0.0.1:{_dead_port()}"
    with private_service(enforced, tmp_path, sandbox_document(enforced)) as p:
        p.app.service.groups = IdentityStoreGroups(
            lambda region: boto3.client(
                "identitystore",
                endpoint_url=dead,
                region_name=region or "us-east-1",
                config=Config(retries={"max_attempts": 1}, connect_timeout=1),
                **ANYONE,
            )
        )
        here = at(p.url, enforced)
        a = client(here, alice)
        rid = a.request_access(PROFILE, WHY)["id"]
        carol_session = sso_session(enforced, APPROVER_USER)
        with pytest.raises(ServiceUnavailable) as err:
            client(here, carol_session).decide_request(rid, "approve")
        assert err.value.code == "ApproverCheckUnavailable"
        assert a.access_request(rid)["status"] == "pending"
        assert a.access_request(rid)["decisions"] == []
        # the CLI: one line, the code, exit 2
        creds = carol_session.get_credentials().get_frozen_credentials()
        env = {
            **clean,
            "SENTINEL_REMOTE": p.url,
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_SESSION_TOKEN": creds.token,
        }
        env.pop("AWS_PROFILE", None)
        r = run(env, "approve", rid)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "ApproverCheckUnavailable" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        # a named approver does not need the identity store
        assert client(here, security).decide_request(rid, "approve")["status"] == "approved"
        a.decide_request(rid, "cancel")


# -- two approvers, and auto-approval --------------------------------------------------------


def test_two_approvers_needed_the_same_approver_counts_once(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any, tmp_path: Path
) -> None:
    doc = sandbox_document(enforced)
    doc["approvals"]["rules"][0]["approvals_needed"] = 2
    with private_service(enforced, tmp_path, doc) as p:
        here = at(p.url, enforced)
        a, s = client(here, alice), client(here, security)
        rid = a.request_access(PROFILE, WHY)["id"]
        first = s.decide_request(rid, "approve", "one")
        assert first["status"] == "pending" and first["approvals_needed"] == 2
        assert refused(lambda: s.decide_request(rid, "approve", "again")) == "AlreadyApproved"
        after = a.access_request(rid)
        assert after["status"] == "pending" and len(after["decisions"]) == 1
        assert refused(lambda: a.start(PROFILE)) == "PolicyDenied"
        carol = client(here, sso_session(enforced, APPROVER_USER))
        done = carol.decide_request(rid, "approve", "two")
        assert done["status"] == "approved"
        assert [d["by"] for d in done["decisions"]] == ["security", APPROVER_USER]
        grant = a.start(PROFILE)
        assert grant.session_id
        lines = [e for e in p.log_lines() if e.get("access_request") == rid]
        approvals = [e for e in lines if e.get("decision") == "approve"]
        assert [e["status"] for e in approvals] == [200, 409, 200]
        assert "1 of 2" in approvals[0]["message"] and approvals[1]["code"] == "AlreadyApproved"
        a.decide_request(rid, "cancel")


def _days_except_around_today() -> list[str]:
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    today = datetime.now(UTC).weekday()
    near = {(today + d) % 7 for d in (-1, 0, 1)}  # whatever the policy's time zone
    return [n for i, n in enumerate(names) if i not in near]


def test_auto_approval_for_a_user_in_a_time_window_is_logged_as_auto_approved(
    clean: dict[str, str], enforced: Any, alice: Any, tmp_path: Path
) -> None:
    doc = sandbox_document(enforced)
    rule = doc["approvals"]["rules"][0]
    rule["auto_approve"] = [
        {"user": "alice", "time": {"days": _days_except_around_today()}},  # not now
        {"user": "bob"},  # not alice
    ]
    with private_service(enforced, tmp_path / "outside", doc) as p:
        a = client(at(p.url, enforced), alice)
        row = a.request_access(PROFILE, WHY)
        assert row["status"] == "pending" and row["decisions"] == []
        a.decide_request(row["id"], "cancel")
    rule["auto_approve"] = [
        {"user": "alice", "time": {"hours": {"start": "00:00", "end": "23:59"}}}
    ]
    with private_service(enforced, tmp_path / "inside", doc) as p:
        a = client(at(p.url, enforced), alice)
        row = a.request_access(PROFILE, WHY)
        assert row["status"] == "approved" and row["approved_at"] and row["ends_at"]
        [decision] = row["decisions"]
        assert decision["action"] == "auto-approve" and decision["by"] == "sentinel-service"
        assert a.start(PROFILE).session_id
        [line] = [e for e in p.log_lines() if e.get("access_request") == row["id"]][:1]
        assert line["decision"] == "auto-approve" and "auto-approved" in line["message"]
        a.decide_request(row["id"], "cancel")


# -- revoking a user, notifications, and the sweep ------------------------------------------


def test_revoking_a_user_without_block_cancels_their_pending_requests(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    a = client(enforced, alice)
    rid = a.request_access(PROFILE, WHY)["id"]
    r = run(
        clean,
        "--aws-profile",
        "security",
        "server-revoke",
        "--user",
        "alice",
        "--reason",
        "rotating access",
    )
    assert r.returncode == 0, r.stderr
    assert f"cancelled 1 pending access request of user alice: {rid}" in r.stdout
    row = a.access_request(rid)
    assert row["status"] == "cancelled" and "rotating access" in row["end_reason"]
    assert row["decisions"][-1]["action"] == "cancel"
    assert row["decisions"][-1]["by"] == "security"
    assert refused(lambda: client(enforced, security).decide_request(rid, "approve")) == (
        "RequestNotPending"
    )
    blocks = run(clean, "--aws-profile", "security", "server-blocks", "--format", "json")
    assert "alice" not in [b.get("user") for b in json.loads(blocks.stdout or "[]")]


def test_sns_notification_reaches_the_topic_on_the_enforced_sandbox(
    clean: dict[str, str], enforced: Any, alice: Any
) -> None:
    import time

    import boto3

    rid = client(enforced, alice).request_access(PROFILE, WHY)["id"]
    found: list[dict[str, Any]] = []
    with unenforced(enforced):
        sqs = boto3.client("sqs", region_name="us-east-1", **ANYONE)
        url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        for _ in range(20):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            for m in got.get("Messages", []):
                envelope = json.loads(m["Body"])
                body = json.loads(envelope["Message"])
                if body.get("request_id") == rid:
                    found.append({"subject": envelope.get("Subject"), **body})
            if found:
                break
            time.sleep(0.3)
    assert found, "the service's SNS publish never reached the subscribed queue"
    assert found[0]["event"] == "request" and "alice" in found[0]["default"]
    client(enforced, alice).decide_request(rid, "cancel")


def test_a_refused_webhook_is_logged_with_the_channel_and_never_blocks_the_request(
    clean: dict[str, str], enforced: Any, alice: Any, tmp_path: Path
) -> None:
    doc = sandbox_document(enforced)
    secret = "T000SECRETPATH"
    doc["notifications"] = {"webhook_url": f"http://127.0.0.1:{_dead_port()}/hooks/{secret}"}
    with private_service(enforced, tmp_path, doc) as p:
        p.app.service.notifier.backoff = 0.05
        a = client(at(p.url, enforced), alice)
        row = a.request_access(PROFILE, WHY)
        assert row["status"] == "pending"
        p.app.service.notifier.flush(10)
        failed = [e for e in p.log_lines() if e.get("event") == "notify_failed"]
        a.decide_request(row["id"], "cancel")
    assert failed, p.log_lines()
    line = failed[0]
    assert line["code"] == "webhook" and "after 3 attempts" in line["message"]
    assert "request" in line["message"] and line["access_request"] == row["id"]
    assert secret not in json.dumps(failed) and "127.0.0.1" not in json.dumps(failed)


def test_sweep_without_traffic_expires_pending_and_ends_approved_requests(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any, tmp_path: Path
) -> None:
    from sentinelgw.service.lambda_handler import sweep as lambda_sweep
    from sentinelgw.service.sweep import run_sweep

    with private_service(enforced, tmp_path, sandbox_document(enforced)) as p:
        here = at(p.url, enforced)
        a, s = client(here, alice), client(here, security)
        approved = a.request_access(PROFILE, WHY, 600)["id"]
        s.decide_request(approved, "approve")
        grant = a.start(PROFILE)
        svc = p.app.service
        real = svc.clock
        svc.clock = lambda: real() + timedelta(minutes=11)  # the approval has ended
        assert run_sweep(svc) >= 1
        row = a.access_request(approved)
        assert row["status"] == "expired" and row["decisions"][-1]["action"] == "expire"
        assert grant.session_id in row["sessions"]
        svc.clock = real
        pending = client(here, alice).request_access(PROFILE, WHY)["id"]
        svc.clock = lambda: real() + timedelta(hours=25)  # past the 24h wait
        assert lambda_sweep(p.app)["swept"] >= 1  # the scheduled Lambda event
        assert a.access_request(pending)["status"] == "expired"
        # approving an expired request: refused, and nothing changes
        before = a.access_request(pending)
        assert refused(lambda: s.decide_request(pending, "approve")) == "RequestNotPending"
        assert a.access_request(pending)["decisions"] == before["decisions"]
        logged = {(e.get("access_request"), e.get("event")) for e in p.log_lines()}
        assert (approved, "request_expire") in logged and (pending, "request_expire") in logged
        # a sweep that cannot read the table is one log line, never an exception
        import boto3
        from botocore.config import Config

        svc.requests.table.client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{_dead_port()}",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
            **ANYONE,
        )
        assert run_sweep(svc) == 0
        [failed] = [e for e in p.log_lines() if e.get("event") == "sweep_failed"]
        assert failed["code"] == "SessionTableUnavailable" and ANYONE[
            "aws_access_key_id"
        ] not in json.dumps(failed)
    sessions = json.loads(run(clean, "sessions", "--format", "json").stdout)
    mine = next(x for x in sessions if x["id"] == grant.session_id)
    assert mine["status"] == "revoked" and approved in mine["revoked_reason"]


def test_tvm_serve_sweeps_on_its_timer_without_traffic(
    on_enforced: Any, alice: Any, security: Any, tmp_path: Path
) -> None:
    """An approval ends while nobody calls ``tvm serve``; its timer marks it expired (a table
    of its own, so the sandbox's service cannot be the one that swept)."""
    import signal
    import time

    import boto3

    from sentinelgw.sessions.schema import ensure_table

    enforced = on_enforced
    table = f"sweep-{tmp_path.name[-20:]}".replace("_", "-")
    with unenforced(enforced):
        ddb = boto3.client("dynamodb", region_name="us-east-1", **ANYONE)
        ensure_table(ddb, table, plan=False, wait=True)
    config = tmp_path / "service.yaml"
    config.write_text(
        f"service_id: http://127.0.0.1:0\ntable: {table}\npolicy: {enforced.document}\n"
        "region: us-east-1\nmin_session_seconds: 2\nsweep_seconds: 1\n"
    )
    env = dict(enforced.env)
    env.update(
        PATH=str(Path(sys.executable).parent),
        HOME=str(tmp_path),
        AWS_SHARED_CREDENTIALS_FILE=str(enforced.root / "service" / "credentials"),
        AWS_PROFILE="sentinel-tvm",
    )
    proc = subprocess.Popen(
        [SENTINEL, "tvm", "serve", "--port", "0", "--config", str(config)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ", 1)[1].split()[0]
        a = client(enforced, alice, service_id="http://127.0.0.1:0")
        s = client(enforced, security, service_id="http://127.0.0.1:0")
        a.base = s.base = url
        rid = a.request_access(PROFILE, WHY, 2)["id"]
        s.decide_request(rid, "approve")
        key = {"id": {"S": f"request#{rid}"}}
        raw = security.client("dynamodb", endpoint_url=enforced.endpoint)
        stored = ""
        for _ in range(30):  # no call to the service from here on
            item = raw.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
            stored = item["req_status"]["S"]
            if stored == "expired":
                break
            time.sleep(0.3)
        assert stored == "expired"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log = [json.loads(x) for x in proc.stderr.read().splitlines() if x.startswith("{")]
        assert any(e.get("event") == "request_expire" and e["access_request"] == rid for e in log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_lambda_host_sweeps_after_a_request_when_the_last_sweep_is_old(
    clean: dict[str, str], enforced: Any, alice: Any, tmp_path: Path
) -> None:
    from sentinelgw.service import sweep

    with private_service(enforced, tmp_path, sandbox_document(enforced)) as p:
        a = client(at(p.url, enforced), alice)
        rid = a.request_access(PROFILE, WHY)["id"]
        svc = p.app.service
        real = svc.clock
        svc.clock = lambda: real() + timedelta(hours=25)
        p.app.sweep_on_request = True  # what the Lambda handler sets
        sweep._Last.at = float("-inf")
        a.my_sessions()  # any call; not a listing of requests
        stored = svc.requests.table.get(rid)
        assert stored is not None and stored.status == "expired"
        assert not sweep.maybe_sweep(svc)  # the next one waits ON_REQUEST_EVERY
