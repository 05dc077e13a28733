"""Elevated access on request (issue 21), on the enforced sandbox as alice and security.

``prod-approve`` is under ``require_approval`` in the sandbox service's document, with
``security`` as approver and notifications to the sandbox's webhook receiver
(``webhook.jsonl``). Every call runs the installed ``sentinel`` against the loopback service.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tvmhelpers import client, wait_for

from sentinelgw.sandbox.webhook import read_messages
from sentinelgw.service.client import ServiceRefused

SENTINEL = str(Path(sys.executable).parent / "sentinel")
TABLE = "sentinel-sessions"
PROFILE = "prod-approve"
WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
# Asks the exec's credential endpoint afresh each second (a new botocore session each time)
# until it is refused, then prints what it saw.
UNTIL_REFUSED = r"""
import json, os, sys, time, urllib.error, urllib.request
seen = []
for _ in range(60):
    req = urllib.request.Request(
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            seen.append("ok")
    except urllib.error.HTTPError as exc:
        seen.append(json.loads(exc.read()).get("Code"))
        time.sleep(3)  # still running while the service's sweep revokes the session
        break
    time.sleep(1)
print(json.dumps({"session": os.environ.get("AWS_SENTINEL_SESSION_ID"), "seen": seen}))
"""


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(list(args), env, timeout=timeout)


def as_security(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, "--aws-profile", "security", *args)


def requests_of(env: dict[str, str], *flags: str, security: bool = False) -> list[dict[str, Any]]:
    call = as_security if security else run
    r = call(env, "requests", "--format", "json", *flags)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    return rows


def one(env: dict[str, str], request_id: str, *, security: bool = False) -> dict[str, Any]:
    rows = [r for r in requests_of(env, security=security) if r["id"] == request_id]
    assert len(rows) == 1, rows
    return rows[0]


def ask(env: dict[str, str], justification: str = "fix incident INC-42 in production", *more: str):
    r = run(
        env,
        "request",
        "--profile",
        PROFILE,
        "--justification",
        justification,
        "--format",
        "json",
        *more,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def clean(alice_env: dict[str, str], enforced: Any, alice: Any, security: Any) -> dict[str, str]:
    """alice and security start without open requests (the sandbox is shared by the tests)."""
    for who in (alice, security):
        c = client(enforced, who)
        for row in c.access_requests(mine=True)["requests"]:
            if row["status"] in ("pending", "approved"):
                c.decide_request(row["id"], "cancel")
    return alice_env


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ServiceRefused) as err:
        call()
    return err.value.code


@pytest.mark.slow  # the whole flow: an approval has to run out while a session uses it
def test_require_approval_whole_flow_refused_request_approve_exec_expiry(
    clean: dict[str, str], enforced: Any
) -> None:
    env = clean
    # 1. refused, with the fix named
    r = run(env, "exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
    assert r.returncode == 1
    assert f"sentinel request --profile {PROFILE}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # 2. request: pending, the id printed
    req = ask(env, "fix incident INC-42 in production", "--duration", "12s")
    rid = req["id"]
    assert req["status"] == "pending" and req["requester"] == "alice"
    assert req["duration_seconds"] == 12
    # 3. self-approval refused, nothing changes
    r = run(env, "approve", rid)
    assert r.returncode == 1 and "SelfApproval" in r.stderr
    assert one(env, rid)["status"] == "pending" and one(env, rid)["decisions"] == []
    # 4. security sees it pending and approves it with a comment
    assert rid in [row["id"] for row in requests_of(env, "--pending", security=True)]
    r = as_security(env, "approve", rid, "--comment", "go ahead")
    assert r.returncode == 0, r.stderr
    assert "approved" in r.stdout
    approved = one(env, rid)
    assert approved["status"] == "approved"
    [decision] = approved["decisions"]
    assert decision["action"] == "approve" and decision["by"] == "security"
    assert decision["comment"] == "go ahead" and decision["at"]
    # 5. exec works under the approval; the session carries the request id
    r = run(env, "exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
    assert r.returncode == 0, r.stderr
    assert "assumed-role/sentinel-prod-approve/" in r.stdout
    sessions = json.loads(run(env, "sessions", "--format", "json").stdout)
    mine = [s for s in sessions if s.get("request_id") == rid]
    assert mine and mine[0]["profile"] == PROFILE
    assert mine[0]["expires_at"] <= approved["ends_at"]
    # 6. a session still running when the approval ends is revoked, and the request expires
    r = run(
        env,
        "exec",
        "--token-mode",
        "env",
        "--profile",
        PROFILE,
        "--",
        sys.executable,
        "-c",
        UNTIL_REFUSED,
    )
    assert r.stdout.strip(), r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["seen"][0] == "ok" and out["seen"][-1] in ("SessionRevoked", "SessionExpired")
    ended = wait_for(lambda: one(env, rid)["status"] == "expired" and one(env, rid))
    assert ended and ended["decisions"][-1]["action"] == "expire"
    assert out["session"] in ended["sessions"] and mine[0]["id"] in ended["sessions"]

    def revoked() -> Any:
        rows = json.loads(run(env, "sessions", "--format", "json").stdout)
        row = next(s for s in rows if s["id"] == out["session"])
        return row["status"] == "revoked" and row

    row = wait_for(revoked)
    assert row and rid in row["revoked_reason"] and row["request_id"] == rid
    r = run(env, "exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
    assert r.returncode == 1
    # 7. the webhook receiver got each step, and the service log has the decisions
    events = wait_for(
        lambda: (
            {
                m["body"]["sentinel"]["event"]
                for m in read_messages(enforced.root / "webhook.jsonl")
                if isinstance(m.get("body"), dict)
                and m["body"].get("sentinel", {}).get("request_id") == rid
            }
            >= {"request", "approve", "session_start", "expire"}
        )
    )
    assert events
    log = [json.loads(line) for line in enforced.log.read_text().splitlines()]
    mine_log = [e for e in log if e.get("access_request") == rid]
    assert {e.get("decision") for e in mine_log} >= {"request", "approve", "expire"}
    approve = next(e for e in mine_log if e.get("decision") == "approve" and e["status"] == 200)
    assert approve["user"] == "security" and approve["comment"] == "go ahead"


def test_alice_cannot_approve_her_request_by_writing_the_table(
    clean: dict[str, str], enforced: Any, alice: Any
) -> None:
    a = client(enforced, alice)
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    ddb = alice.client("dynamodb")
    key = {"id": {"S": f"request#{rid}"}}
    with pytest.raises(Exception) as err:
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET req_status = :a",
            ExpressionAttributeValues={":a": {"S": "approved"}},
        )
    assert "AccessDenied" in str(err.value)
    with pytest.raises(Exception) as err:
        ddb.put_item(TableName=TABLE, Item={**key, "req_status": {"S": "approved"}})
    assert "AccessDenied" in str(err.value)
    assert a.access_request(rid)["status"] == "pending"
    assert refused(lambda: a.start(PROFILE)) == "PolicyDenied"


def test_bad_input_each_one_line_with_a_code_and_nothing_changes(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    a, s = client(enforced, alice), client(enforced, security)
    # justification out of bounds: the CLI refuses before the service (exit 2), and so does
    # the service for a client that skips the check
    r = run(clean, "request", "--profile", PROFILE, "--justification", "too short")
    assert r.returncode == 2 and "BadJustification" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    for text in ("too short", "x" * 501, "          x"):
        assert refused(lambda t=text: a.request_access(PROFILE, t)) == "BadJustification"
    assert a.access_requests(mine=True, status="pending")["requests"] == []
    # a duration over the policy's maximum (2h)
    assert refused(lambda: a.request_access(PROFILE, "a" * 20, 3 * 3600)) == "DurationTooLong"
    # an unknown or malformed id: one line with the code, exit 1 / 2
    r = as_security(clean, "approve", "0123456789abcdef")
    assert r.returncode == 1 and "RequestNotFound" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = as_security(clean, "approve", "not-an-id")
    assert r.returncode == 2 and "BadRequestId" in r.stderr
    # a non-approver: alice on security's request; nor may she cancel it
    theirs = s.request_access(PROFILE, "security needs prod too")["id"]
    for action in ("approve", "deny"):
        assert refused(lambda x=action: a.decide_request(theirs, x)) == "NotAnApprover"
    assert refused(lambda: a.decide_request(theirs, "cancel")) == "NotRequester"
    after = s.access_request(theirs)
    assert after["status"] == "pending" and after["decisions"] == []
    s.decide_request(theirs, "cancel")
    # approving a cancelled request
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    a.decide_request(rid, "cancel")
    assert refused(lambda: s.decide_request(rid, "approve")) == "RequestNotPending"
    assert a.access_request(rid)["status"] == "cancelled"
    # approving twice, and approving one's own
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    assert refused(lambda: a.decide_request(rid, "approve")) == "SelfApproval"
    s.decide_request(rid, "approve")
    before = a.access_request(rid)
    assert refused(lambda: s.decide_request(rid, "approve")) == "RequestNotPending"
    after = a.access_request(rid)
    assert {k: v for k, v in after.items() if k != "request_id"} == {
        k: v for k, v in before.items() if k != "request_id"
    }
    # a second request while one is open
    assert refused(lambda: a.request_access(PROFILE, "another one please")) == "RequestExists"
    # a profile that needs no approval
    assert refused(lambda: a.request_access("dev", "no approval needed")) == ("ApprovalNotRequired")
    a.decide_request(rid, "cancel")


def test_deny_comment_is_recorded_and_rendered_inert(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    a, s = client(enforced, alice), client(enforced, security)
    rid = a.request_access(PROFILE, "please \x1b[31mred\x1b[0m <!channel> now")["id"]
    hostile = "no \x1b]0;owned\x07 <!here> way"
    s.decide_request(rid, "deny", hostile)
    row = a.access_request(rid)
    assert row["status"] == "denied"
    last = row["decisions"][-1]
    assert last["action"] == "deny" and last["by"] == "security" and last["comment"] == hostile
    for fmt in ("human", "csv"):
        out = run(clean, "requests", "--mine", "--format", fmt).stdout
        assert "\x1b" not in out and "\x07" not in out
        assert rid in out
    messages = wait_for(
        lambda: [
            m
            for m in read_messages(enforced.root / "webhook.jsonl")
            if isinstance(m.get("body"), dict)
            and m["body"].get("sentinel", {}).get("request_id") == rid
            and m["body"]["sentinel"]["event"] == "deny"
        ]
    )
    assert messages
    text = messages[0]["body"]["text"]
    assert "<!here>" not in text and "&lt;!here&gt;" in text and "\x1b" not in text
    log = [json.loads(line) for line in enforced.log.read_text().splitlines()]
    [line] = [e for e in log if e.get("access_request") == rid and e.get("decision") == "deny"]
    assert line["user"] == "security" and line["comment"] == hostile
    # approving a denied request changes nothing
    assert refused(lambda: s.decide_request(rid, "approve")) == "RequestNotPending"
    assert a.access_request(rid)["status"] == "denied"


def test_blocking_the_requester_cancels_their_pending_requests(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    a, s = client(enforced, alice), client(enforced, security)
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    r = as_security(
        clean, "server-revoke", "--user", "alice", "--block", "--reason", "offboarding test"
    )
    assert r.returncode == 0, r.stderr
    try:
        row = wait_for(lambda: (got := a.access_request(rid))["status"] == "cancelled" and got)
        # Cancelled by whichever comes first: server-revoke's own step ("user revoked by
        # ...: offboarding test") or the service's sweep of blocked requesters ("... blocked").
        reason = (row or {}).get("end_reason") or ""
        assert row and ("blocked" in reason or "offboarding test" in reason), reason
        assert refused(lambda: s.decide_request(rid, "approve")) == "RequestNotPending"
    finally:
        assert as_security(clean, "server-unblock", "--user", "alice").returncode == 0


def test_requests_csv_and_status_filter(clean: dict[str, str], enforced: Any, alice: Any) -> None:
    a = client(enforced, alice)
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    r = run(clean, "requests", "--mine", "--status", "pending", "--format", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("id,requester,profile,status")
    assert any(line.startswith(rid) for line in lines[1:])
    assert all(",pending," in line for line in lines[1:])
    assert rid not in json.dumps(a.access_requests(mine=True, status="denied"))
    a.decide_request(rid, "cancel")


def test_audit_shows_the_request_id_and_counts_require_approval_as_required(
    clean: dict[str, str], enforced: Any, alice: Any, security: Any, tmp_path: Path
) -> None:
    a, s = client(enforced, alice), client(enforced, security)
    rid = a.request_access(PROFILE, "fix incident INC-42 in production")["id"]
    s.decide_request(rid, "approve")
    grant = a.start(PROFILE)
    r = as_security(
        clean, "audit", "untracked-sessions", "--since", "1h", "--all", "--format", "json"
    )
    assert r.returncode in (0, 1), r.stderr
    events = [e for e in json.loads(r.stdout)["events"] if e["session_id"] == grant.session_id]
    assert events and events[0]["category"] == "tracked"
    assert events[0]["request_id"] == rid and rid in events[0]["reason"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n  - name: approve\n    match: {profile: prod-approve}\n"
        "    effect: require_approval\n  - name: rest\n    effect: allow\n"
    )
    r = as_security(
        clean,
        "audit",
        "session-compliance",
        "--since",
        "1h",
        "--policy",
        str(policy),
        "--profile",
        PROFILE,
        "--format",
        "json",
    )
    assert r.returncode in (0, 1), r.stderr
    [row] = json.loads(r.stdout)["profiles"]
    assert row["profile"] == PROFILE and row["required"] is True
    assert rid in row["requests"]
    r = as_security(clean, "audit", "session-compliance", "--since", "1h", "--policy", str(policy))
    assert "sessions under access requests" in r.stdout and rid in r.stdout
    a.decide_request(rid, "cancel")
