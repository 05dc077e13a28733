"""Fault injection: each failure gives the documented behaviour, exit code and one-line
message (never a traceback), and never runs the child when it should not.

DynamoDB, STS, SSM and SSO faults are made on loopback: closed ports, a switchable TCP proxy
in front of the sandbox, and a fake STS answering errors.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from faults import SwitchableProxy, caller_identity, closed_port, fake_sts, sts_error
from hardeninghelpers import PY, live_session, one_error_line


def marker_cmd(marker: Path) -> list[str]:
    return [PY, "-c", f"open({str(marker)!r}, 'w')"]


def record(run_sentinel: Any, sid: str) -> dict[str, Any]:
    out = run_sentinel(["server-session", sid, "--format", "json"])
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sandbox_dynamodb(sandbox: Any) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="AKIAHARDENINGTESTS",
        aws_secret_access_key="hardening-not-secret",
    )


# --- DynamoDB ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "needle"),
    [
        ("prod", "the policy requires session tracking for this profile, so no credentials"),
        ("dev", "set defaults.fail_open"),
    ],
)
def test_dynamodb_unreachable_at_start_fails_closed(
    run_sentinel: Any, sandbox_env: dict[str, str], tmp_path: Path, profile: str, needle: str
) -> None:
    marker = tmp_path / "ran"
    env = {**sandbox_env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{closed_port()}"}
    out = run_sentinel(
        ["exec", "--server", "--profile", profile, "--", *marker_cmd(marker)], env=env, timeout=120
    )
    assert out.returncode == 2, out.stderr
    line = one_error_line(out.stderr)
    assert "sentinel-sessions" in line and "could not reach" in line and needle in line
    assert not marker.exists()


def test_dynamodb_unreachable_with_fail_open_runs_dev_with_a_warning(
    run_sentinel: Any, sandbox_env: dict[str, str], sandbox: Any, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        Path(sandbox.sentinel_config)
        .read_text()
        .replace("defaults:\n", "defaults:\n  fail_open: true\n", 1)
    )
    marker = tmp_path / "ran"
    env = {
        **sandbox_env,
        "SENTINEL_CONFIG": str(cfg),
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{closed_port()}",
    }
    out = run_sentinel(
        ["exec", "--server", "--profile", "dev", "--", *marker_cmd(marker)], env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert marker.exists()
    warnings = [ln for ln in out.stderr.splitlines() if ln.startswith("sentinel: warning: ")]
    assert len(warnings) == 1 and "continuing untracked" in warnings[0], out.stderr
    assert "Traceback" not in out.stderr


def test_dynamodb_outage_mid_run_refuses_then_recovers(
    sandbox: Any, sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    target = urlparse(sandbox.endpoint_url)
    with SwitchableProxy(target.hostname or "127.0.0.1", int(target.port or 0)) as proxy:
        env = {**sandbox_env, "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}
        with live_session(env, "--profile", "prod") as live:
            assert live.fetch() == {"status": 200, "code": None}
            _wait_for_count(sandbox, live.session, 1)  # no touch in flight when we cut
            proxy.off()
            time.sleep(4.0)  # past the documented 3 s without a successful status read
            refused = live.fetch()
            assert refused["status"] == 503 and refused["code"] == "SessionCheckFailed"
            proxy.on()
            served = 1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = live.fetch()
                if answer["status"] == 200:
                    served += 1
                    break
                assert answer["code"] == "SessionCheckFailed", answer
                time.sleep(0.25)
            assert served == 2, "requests were still refused 30 s after DynamoDB came back"
            assert live.fetch()["status"] == 200
            served += 1
            code, stderr = live.finish()
        assert code == 0, stderr
    rec = record(run_sentinel, live.session)
    assert rec["status"] == "expired"
    assert rec["request_count"] == served  # refused requests are not counted, none is lost


def _wait_for_count(sandbox: Any, sid: str, count: int) -> None:
    client = sandbox_dynamodb(sandbox)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        item = client.get_item(
            TableName=sandbox.table, Key={"id": {"S": sid}}, ConsistentRead=True
        ).get("Item", {})
        if int(item.get("request_count", {}).get("N", "0")) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"the request count of {sid} never reached {count}")


# --- STS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["credentials", "--no-cache", "--profile", "dev"],
        ["exec", "--server", "--profile", "prod", "--"],
    ],
)
def test_sts_throttling_is_one_line_naming_sts(
    run_sentinel: Any, sandbox_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    marker = tmp_path / "ran"
    # Two attempts: one retry shows the throttling is retried before the answer, without
    # sitting through the default's back-off (7-13 s of waiting, measured).
    env = {**sandbox_env, "AWS_MAX_ATTEMPTS": "2"}
    with fake_sts(lambda _action: sts_error("Throttling", "Rate exceeded")) as (url, seen):
        cmd = [*args, *marker_cmd(marker)] if args[0] == "exec" else args
        out = run_sentinel(cmd, env={**env, "AWS_ENDPOINT_URL_STS": url}, timeout=120)
    assert out.returncode == 2, out.stderr
    line = one_error_line(out.stderr)
    assert "sts:GetCallerIdentity" in line and "throttled" in line
    assert len(seen) == 2  # retried once, as AWS_MAX_ATTEMPTS says, then the answer
    assert out.stdout == "" and not marker.exists()


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (
            sts_error("AccessDenied", "not authorized", status=403),
            "was denied (AccessDenied). The caller needs sts:AssumeRole and sts:SetSourceIdentity",
        ),
        (
            sts_error("InternalFailure", "boom", status=500, kind="Receiver"),
            "failed with InternalFailure",
        ),
    ],
)
def test_sts_assume_role_errors_leave_no_active_record(
    run_sentinel: Any,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    answer: tuple[int, str],
    needle: str,
) -> None:
    user = f"sts-fault-{os.urandom(4).hex()}"
    marker = tmp_path / "ran"

    def respond(action: str) -> tuple[int, str]:
        return caller_identity(user) if action == "GetCallerIdentity" else answer

    with fake_sts(respond) as (url, seen):
        out = run_sentinel(
            ["exec", "--server", "--profile", "prod", "--", *marker_cmd(marker)],
            env={**sandbox_env, "AWS_ENDPOINT_URL_STS": url},
            timeout=120,
        )
    assert out.returncode == 2, out.stderr
    line = one_error_line(out.stderr)
    assert "sts:AssumeRole on arn:aws:iam::" in line and needle in line
    assert "AssumeRole" in seen and not marker.exists()
    # The record was created before the failed issue; it must not be left active.
    listed = run_sentinel(["server-sessions", "--user", user, "--format", "json"])
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["status"] == "expired" and rows[0]["request_count"] == 0


# --- SSM -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["exec", "--policy", "ssm:/sentinel/policy", "--profile", "dev", "--"],
        ["exec", "--server", "--policy", "ssm:/sentinel/policy", "--profile", "dev", "--"],
        ["credentials", "--no-cache", "--policy", "ssm:/sentinel/policy", "--profile", "dev"],
    ],
)
def test_ssm_unavailable_when_the_policy_lives_there(
    run_sentinel: Any, sandbox_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    marker = tmp_path / "ran"
    env = {**sandbox_env, "AWS_ENDPOINT_URL_SSM": f"http://127.0.0.1:{closed_port()}"}
    cmd = [*args, *marker_cmd(marker)] if args[0] == "exec" else args
    out = run_sentinel(cmd, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    line = one_error_line(out.stderr)
    assert (
        "ssm:GetParameter on SSM parameter /sentinel/policy" in line and "could not reach" in line
    )
    assert out.stdout == "" and not marker.exists()


# --- SSO -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "needle"),
    [
        (timedelta(minutes=-5), "has expired"),
        (timedelta(hours=1), "was refused (expired or revoked)"),  # the portal does not know it
    ],
)
@pytest.mark.parametrize(
    "args",
    [
        ["--aws-profile", "sso-admin", "exec", "--server", "--profile", "prod-sso", "--"],
        ["credentials", "--no-cache", "--profile", "sso-admin"],
    ],
)
def test_expired_sso_token_says_aws_sso_login(
    run_sentinel: Any,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    expires: timedelta,
    needle: str,
    args: list[str],
) -> None:
    from sentinelgw.sandbox.sso import cache_file_name

    cache = tmp_path / "sso-cache"
    cache.mkdir()
    (cache / cache_file_name()).write_text(
        json.dumps(
            {
                "accessToken": "not-the-portal-token",
                "expiresAt": (datetime.now(UTC) + expires).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    )
    marker = tmp_path / "ran"
    cmd = [*args, *marker_cmd(marker)] if "exec" in args else args
    out = run_sentinel(cmd, env={**sandbox_env, "SENTINEL_SSO_CACHE_DIR": str(cache)})
    assert out.returncode == 2, out.stderr
    line = one_error_line(out.stderr)
    assert needle in line and "Run: aws sso login --sso-session sandbox" in line
    assert out.stdout == "" and not marker.exists()


# --- signals -------------------------------------------------------------------------------


def test_child_killed_by_a_signal(run_sentinel: Any) -> None:
    code = (
        "import os, signal; print(os.environ['AWS_SENTINEL_SESSION_ID'], flush=True); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    out = run_sentinel(["exec", "--server", "--profile", "prod", "--", PY, "-c", code])
    assert out.returncode == 128 + signal.SIGKILL, out.stderr
    assert "Traceback" not in out.stderr
    assert record(run_sentinel, out.stdout.strip())["status"] == "expired"


def test_sentinel_killed_leaves_nothing_listening_and_the_record_expires(
    sandbox: Any, sandbox_env: dict[str, str], run_sentinel: Any
) -> None:
    from sentinelgw.sessions.store import SessionStore

    with live_session(sandbox_env, "--profile", "prod", "--server-duration", "1m") as live:
        assert live.fetch()["status"] == 200
        live.proc.send_signal(signal.SIGKILL)
        live.proc.wait(timeout=30)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", live.port), timeout=5).close()
        assert live.proc.stdin is not None
        live.proc.stdin.close()  # the orphaned child reads EOF and ends
        child = int(live.hello["pid"])
        deadline = time.monotonic() + 20
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the child outlived its input")
    client = sandbox_dynamodb(sandbox)
    store = SessionStore(client, sandbox.table)
    rec = store.get(live.session)
    assert rec is not None and rec.status == "active"  # nobody could mark it
    assert rec.effective_status(rec.expires_at + timedelta(minutes=2)) == "expired"
    assert rec.effective_status(datetime.now(UTC)) == "active"
    active = run_sentinel(["server-sessions", "--status", "active", "--format", "json"])
    assert live.session in {r["id"] for r in json.loads(active.stdout)}
    # Time passes: put expires_at in the past, as it will be a minute from now.
    past = f"{(datetime.now(UTC) - timedelta(seconds=5)).timestamp():.3f}"
    client.update_item(
        TableName=sandbox.table,
        Key={"id": {"S": live.session}},
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues={":t": {"N": past}},
    )
    active = run_sentinel(["server-sessions", "--status", "active", "--format", "json"])
    assert active.returncode == 0, active.stderr
    assert live.session not in {r["id"] for r in json.loads(active.stdout)}
    expired = run_sentinel(["server-sessions", "--status", "expired", "--format", "json"])
    assert live.session in {r["id"] for r in json.loads(expired.stdout)}
    assert record(run_sentinel, live.session)["status"] == "expired"
