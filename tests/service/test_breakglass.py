"""Break-glass (issue 22) on the enforced sandbox, as alice and security.

The sandbox service's document allows alice break-glass on ``prod-approve`` (under
``require_approval``) with MFA (its MFA role; codes from the sandbox's seed) and a 10-minute
cooldown; notifications go to the sandbox's webhook
receiver (``webhook.jsonl``). Every call runs the installed ``sentinel`` against the loopback
service, or the service client over real HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.audit.audithelpers import ACTIVITY_CHILD as CHILD
from tests.conftest import run_cli
from tvmhelpers import client, wait_for

from sentinelgw.sandbox.mfa import MFA_ROLE, current_code
from sentinelgw.sandbox.webhook import read_messages
from sentinelgw.service.client import ServiceRefused

PROFILE = "prod-approve"
WHY = "INC-77: checkout is down in production, rolling back"
# Untrusted text: a Slack mention and terminal escapes in the justification.
HOSTILE = "INC-78 <!channel> checkout down \x1b[31mred\x1b]0;title\x07"


# Whether the running test is marked real_process (then every command is the installed script).
_REAL = False


@pytest.fixture(autouse=True)
def _real_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    marked = request.node.get_closest_marker("real_process") is not None
    monkeypatch.setattr(sys.modules[__name__], "_REAL", marked)


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS``: in this process, or the installed script in a real_process test."""
    return run_cli(list(args), env, timeout=timeout, real=_REAL)


def as_security(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, "--aws-profile", "security", *args)


def grants(env: dict[str, str], *flags: str, security: bool = False) -> list[dict[str, Any]]:
    r = (as_security if security else run)(env, "breakglass-list", "--format", "json", *flags)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    return rows


def webhook_events(enforced: Any, grant_id: str) -> list[dict[str, Any]]:
    return [
        m["body"]
        for m in read_messages(enforced.root / "webhook.jsonl")
        if isinstance(m.get("body"), dict)
        and m["body"].get("sentinel", {}).get("breakglass_id") == grant_id
    ]


def one_line_refusal(r: subprocess.CompletedProcess[str], code: str) -> None:
    assert r.returncode in (1, 2), (r.returncode, r.stdout, r.stderr)
    assert code in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2


# The whole flow: a break-glass grant, a child's calls through it, and its end.
@pytest.mark.slow
@pytest.mark.real_process  # the done-when, with the installed script throughout
def test_breakglass_open_exec_urgent_cooldown_close_revokes_and_activity_marks_chained(
    alice_env: dict[str, str], enforced: Any, alice: Any, security: Any, hop_role: str
) -> None:
    env = alice_env
    # 1. alice opens break-glass on prod-approve, with no approver
    r = run(
        env,
        "breakglass",
        "--profile",
        PROFILE,
        "--reason-code",
        "incident",
        "--justification",
        HOSTILE,
        "--duration",
        "30m",
        "--mfa-token",  # the sandbox's document requires MFA through its MFA role
        current_code(enforced.root),
        "--format",
        "json",
    )
    assert r.returncode == 0, r.stderr
    grant = json.loads(r.stdout)
    gid = grant["id"]
    assert grant["status"] == "active" and grant["user"] == "alice"
    assert grant["mfa"] == f"role {MFA_ROLE}"  # a valid code opens it, and the grant says how
    assert grant["reason_code"] == "incident" and grant["duration_seconds"] == 1800
    # 2. exec works under it; the child's session record carries the grant id
    child_env = {**env, "BUCKET": f"bg-{gid}", "HOP_ROLE": hop_role}
    r = run(child_env, "exec", "--profile", PROFILE, "--", sys.executable, "-c", CHILD)
    assert r.returncode == 0, r.stderr
    sid = r.stdout.split()[0]
    mine = json.loads(run(env, "sessions", "--format", "json").stdout)
    [row] = [s for s in mine if s["id"] == sid]
    assert row["breakglass_id"] == gid and row["profile"] == PROFILE
    assert f"BREAK-GLASS {gid}" in run(env, "sessions").stdout  # her own list marks it too
    # 3. the webhook receiver got an urgent message naming it
    opened = wait_for(
        lambda: [
            b for b in webhook_events(enforced, gid) if b["sentinel"]["event"].endswith("open")
        ]
    )
    assert opened and opened[0]["sentinel"]["urgent"] is True
    assert "URGENT" in opened[0]["text"] and "alice" in opened[0]["text"]
    text = json.dumps(opened[0])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "\\u001b" not in text
    shown = run(env, "breakglass-list")
    assert shown.returncode == 0 and gid in shown.stdout and "\x1b" not in shown.stdout
    # 4. a second break-glass inside the cooldown is refused, naming when the next is possible
    # (MFA is checked first: no limit is told to a caller without it)
    code = ("--mfa-token", current_code(enforced.root))
    r = run(
        env,
        "breakglass",
        "--profile",
        PROFILE,
        "--reason-code",
        "other",
        "--justification",
        WHY,
        *code,
    )
    one_line_refusal(r, "BreakGlassCooldown")
    assert "next one is possible at 20" in r.stderr
    # 5. a decision-log line on every credential request under the grant
    log = [json.loads(line) for line in enforced.log.read_text().splitlines()]
    under = [e for e in log if e.get("breakglass") == gid]
    assert {e.get("event") for e in under} >= {"breakglass_open", "session_create"}
    # 6. server-sessions marks the session
    r = as_security(env, "server-sessions", "--since", "1h")
    assert r.returncode == 0, r.stderr
    assert f"BREAK-GLASS {gid}" in r.stdout
    # 7. a live session under it; neither another user nor a request call can end the grant
    a = client(enforced, alice)
    live = a.start(PROFILE)
    a.credentials(live.session_id)
    with pytest.raises(ServiceRefused) as err:
        client(enforced, _platform(enforced)).close_breakglass(gid, "not mine")
    assert err.value.code == "NotAuthorized"
    for action in ("cancel", "approve"):
        for who in (a, client(enforced, security)):
            with pytest.raises(ServiceRefused) as err:
                who.decide_request(gid, action)
            assert err.value.code == "RequestNotFound" and "breakglass-show" in err.value.detail
    [still] = [g for g in grants(env, "--status", "active") if g["id"] == gid]
    assert [d["action"] for d in still["decisions"]] == ["open"]
    # closing the grant revokes the session
    r = run(env, "breakglass-close", gid, "--reason", "rolled back, incident over")
    assert r.returncode == 0, r.stderr
    assert "closed" in r.stdout
    with pytest.raises(ServiceRefused) as err:
        a.credentials(live.session_id)
    assert err.value.code == "SessionRevoked" and gid in err.value.detail
    log = [json.loads(line) for line in enforced.log.read_text().splitlines()]
    served = [
        e
        for e in log
        if e.get("event") == "session_credentials" and e.get("session_id") == live.session_id
    ]
    assert len(served) == 2 and all(e.get("breakglass") == gid for e in served)
    assert served[0]["status"] == 200 and served[1]["code"] == "SessionRevoked"
    [closed] = [g for g in grants(env, "--status", "closed") if g["id"] == gid]
    assert closed["closed_by"] == "alice" and live.session_id in closed["sessions"]
    assert wait_for(
        lambda: any(
            b["sentinel"]["event"].endswith("close") and b["sentinel"]["urgent"]
            for b in webhook_events(enforced, gid)
        )
    )
    # 8. session-activity of the grant: the child's S3 and STS calls, the chained one marked
    r = as_security(env, "audit", "session-activity", gid, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {s["id"] for s in doc["sessions"]} == {sid, live.session_id}
    got = [(e["kind"], e["service"], e["action"]) for e in doc["events"] if e["session_id"] == sid]
    assert ("session", "s3.amazonaws.com", "CreateBucket") in got
    assert ("session", "sts.amazonaws.com", "GetCallerIdentity") in got
    assert ("session", "sts.amazonaws.com", "AssumeRole") in got
    assert ("chained", "s3.amazonaws.com", "ListObjectsV2") in got


def test_breakglass_bad_input_one_line_and_nothing_changes(
    alice_env: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    env = alice_env
    before = grants(env, security=True)
    base = ["breakglass", "--profile", PROFILE, "--justification", WHY]
    r = run(env, *base, "--reason-code", "bored")
    assert r.returncode == 2 and "bored" in r.stderr and "Traceback" not in r.stderr
    r = run(
        env,
        "breakglass",
        "--profile",
        PROFILE,
        "--reason-code",
        "incident",
        "--justification",
        "too short",
    )
    one_line_refusal(r, "BadJustification")
    r = run(env, *base, "--reason-code", "incident", "--justification", "x" * 1001)
    one_line_refusal(r, "BadJustification")
    r = run(env, *base, "--reason-code", "incident", "--duration", "5h")
    one_line_refusal(r, "BadDuration")
    # over the policy's max_server_duration for prod-approve (2h in the sandbox)
    r = run(env, *base, "--reason-code", "incident", "--duration", "3h")
    one_line_refusal(r, "DurationTooLong")
    # the service checks too, whatever the client sends
    a = client(enforced, alice)
    for body, code in (
        ({"reason_code": "bored", "justification": WHY}, "BadReasonCode"),
        ({"reason_code": "incident", "justification": "x" * 19}, "BadJustification"),
        (
            {"reason_code": "incident", "justification": WHY, "duration_seconds": 5 * 3600},
            "BadRequest",
        ),
    ):
        with pytest.raises(ServiceRefused) as err:
            a._post("/v1/breakglass", {"profile": PROFILE, **body})
        assert err.value.code == code
    # a profile the breakglass section does not name for alice
    r = run(
        env, "breakglass", "--profile", "prod", "--reason-code", "incident", "--justification", WHY
    )
    one_line_refusal(r, "BreakGlassNotAllowed")
    # unknown and malformed ids
    r = run(env, "breakglass-show", "0123456789abcdef")
    one_line_refusal(r, "BreakGlassNotFound")
    r = run(env, "breakglass-close", "not-an-id", "--reason", "x")
    one_line_refusal(r, "BadBreakGlassId")
    # a break-glass id is not a request: it cannot be approved, denied or cancelled as one
    assert grants(env, security=True) == before


def _platform(enforced: Any) -> Any:
    """The sandbox's platform-team user (profile ``admin``): neither alice nor one of the
    service document's admins (those are ``security``)."""
    import boto3

    return boto3.Session(**_admin_keys(enforced))


@pytest.fixture
def hop_role(enforced: Any) -> Iterator[str]:
    """A role any principal of the account may assume (a chained hop for the child), deleted
    afterwards: the enforced sandbox is shared with the deployment tests, whose ``tvm check``
    would name a role anyone may assume that may write the session table."""
    import boto3

    iam = boto3.client("iam", **_admin_keys(enforced))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},  # moto compares principals literally
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ],
    }
    name = f"bg-hop-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(allow))
    try:
        yield str(role["Role"]["Arn"])
    finally:
        iam.delete_role_policy(RoleName=name, PolicyName="all")
        iam.delete_role(RoleName=name)


def _admin_keys(enforced: Any) -> dict[str, str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(enforced.env["AWS_SHARED_CREDENTIALS_FILE"])
    section = parser["admin"]
    return {
        "aws_access_key_id": section["aws_access_key_id"],
        "aws_secret_access_key": section["aws_secret_access_key"],
        "region_name": "us-east-1",
    }


def test_session_activity_of_a_request_id_covers_all_its_sessions(
    alice_env: dict[str, str], enforced: Any, alice: Any, security: Any
) -> None:
    a, s = client(enforced, alice), client(enforced, security)
    for row in a.access_requests(mine=True)["requests"]:
        if row["status"] in ("pending", "approved"):
            a.decide_request(row["id"], "cancel")
    rid = a.request_access(PROFILE, "look at the session activity of a request")["id"]
    s.decide_request(rid, "approve")
    first, second = a.start(PROFILE), a.start(PROFILE)
    r = as_security(alice_env, "audit", "session-activity", rid, "--format", "json")
    a.decide_request(rid, "cancel")
    assert r.returncode == 0, r.stderr
    ids = {row["id"] for row in json.loads(r.stdout)["sessions"]}
    assert ids == {first.session_id, second.session_id}
    r = as_security(alice_env, "audit", "session-activity", "0123456789abcdef")
    assert r.returncode == 2 and "unknown session 0123456789abcdef" in r.stderr
