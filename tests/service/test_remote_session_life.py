"""A remote ``exec`` session lives as long as its command (issue 20): renewed while the child
runs, up to the policy's max_server_duration; ended through the service when the child exits,
whatever the reason; refused by the service once an exec killed with SIGKILL stops renewing.
The sandbox service accepts leases of 2 s, so each lapse takes seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tvmhelpers import client

from sentinelgw.service.client import ServiceRefused
from sentinelgw.sessions.model import decode_time

SENTINEL = str(Path(sys.executable).parent / "sentinel")
TABLE = "sentinel-sessions"

# Fetches credentials from the loopback endpoint after each delay given on the command line,
# then prints what it saw; with "wait", prints the session id and sleeps until signalled.
CHILD = r"""
import json, os, sys, time, urllib.error, urllib.request

def fetch():
    req = urllib.request.Request(
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

session = os.environ.get("AWS_SENTINEL_SESSION_ID")
if sys.argv[1:] == ["wait"]:
    print(session, flush=True)
    time.sleep(60)
    sys.exit(0)
if sys.argv[1] == "gate":  # print the session id, fetch once the file argv[2] exists
    print(session, flush=True)
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.05)
    status, body = fetch()
    print(json.dumps({"status": status, "code": body.get("Code")}), flush=True)
    sys.exit(0)
seen = []
for delay in sys.argv[1:-1]:
    time.sleep(float(delay))
    status, body = fetch()
    seen.append({"status": status, "code": body.get("Code"), "expiration": body.get("Expiration"),
                 "at": time.time()})
print(json.dumps({"session": session, "fetches": seen}), flush=True)
sys.exit(int(sys.argv[-1]))
"""


@pytest.fixture
def child(tmp_path: Path) -> str:
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    return str(path)


def sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(args, env)


def remote_exec(env: dict[str, str], child: str, *child_args: str, extra=()) -> Any:
    return sentinel(
        ["exec", "--token-mode", "env", *extra, "--profile", "prod", "--", sys.executable, child]
        + list(child_args),
        env,
    )


def item(security: Any, session_id: str) -> dict[str, Any]:
    return security.client("dynamodb").get_item(
        TableName=TABLE, Key={"id": {"S": session_id}}, ConsistentRead=True
    )["Item"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_remote_exec_ends_its_session_when_the_child_exits(alice_env, security, child):
    done = remote_exec(alice_env, child, "0", "3")
    assert done.returncode == 3, done.stderr
    out = json.loads(done.stdout)
    (fetch,) = out["fetches"]
    assert fetch["status"] == 200
    # By the time exec has returned the record is ended, not left active until expires_at.
    record = item(security, out["session"])
    assert record["status"]["S"] == "ended"
    assert record["end_reason"]["S"] == "the command exited with status 3"
    ended = decode_time(record["ended_at"]["N"])
    valid_until = decode_time(record["credentials_valid_until"]["N"])
    served = _time(fetch["expiration"])
    # The bound holds for what was served, and is no later than STS's 15 minutes after the end.
    assert served <= valid_until <= ended + timedelta(minutes=15)


def test_served_credentials_never_outlive_the_session_by_more_than_15_minutes(
    alice_env, security, child
):
    done = remote_exec(alice_env, child, "0", "0")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (fetch,) = out["fetches"]
    served = _time(fetch["expiration"])
    fetched_at = datetime.fromtimestamp(fetch["at"], UTC)
    # A renewable session can end at any moment: its credentials last STS's minimum.
    assert served <= fetched_at + timedelta(minutes=15, seconds=5)
    assert served <= decode_time(item(security, out["session"])["ended_at"]["N"]) + timedelta(
        minutes=15, seconds=5
    )


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signalled_remote_exec_ends_its_session(alice_env, security, child, sig, status):
    proc = subprocess.Popen(
        [SENTINEL, "exec", "--token-mode", "env", "--profile", "prod", "--"]
        + [sys.executable, child, "wait"],
        env=alice_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        session_id = proc.stdout.readline().strip()
        assert len(session_id) == 16, proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == status
    finally:
        if proc.poll() is None:
            proc.kill()
    record = item(security, session_id)
    assert record["status"]["S"] == "ended"
    assert record["end_reason"]["S"] == f"the command exited with status {status}"


def test_a_long_child_keeps_getting_credentials_past_its_first_lease(alice_env, security, child):
    # A 2-second lease; the child fetches at once and again 5 s later (two leases on).
    done = remote_exec(alice_env, child, "0", "5", "0", extra=["--server-duration", "2s"])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [f["status"] for f in out["fetches"]] == [200, 200], done.stderr
    record = item(security, out["session"])
    started = decode_time(record["started_at"]["N"])
    renew_until = decode_time(record["renew_until"]["N"])
    assert decode_time(record["ended_at"]["N"]) > started + timedelta(seconds=2)
    assert renew_until > started + timedelta(hours=1)  # no max_server_duration for prod


def test_a_killed_exec_session_is_refused_once_it_misses_its_renewals(
    alice_env, alice, security, enforced, child
):
    proc = subprocess.Popen(
        [SENTINEL, "exec", "--token-mode", "env", "--server-duration", "2s"]
        + ["--profile", "prod", "--", sys.executable, child, "wait"],
        env=alice_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        session_id = proc.stdout.readline().strip()
        assert len(session_id) == 16
        os.killpg(proc.pid, signal.SIGKILL)  # exec and child: nothing ends or renews it
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(3.5)  # past the 2-second lease from the last renewal
    as_alice = client(enforced, alice)
    for call in (as_alice.credentials, as_alice.renew):
        with pytest.raises(ServiceRefused) as err:
            call(session_id)
        assert err.value.code == "SessionExpired"
    record = item(security, session_id)
    assert record["status"]["S"] == "active"  # stored; it reads expired from its expires_at
    assert decode_time(record["expires_at"]["N"]) < datetime.now(UTC)


@pytest.fixture
def document(enforced):
    """Rewrite the service document for one test; the original comes back afterwards."""
    original = enforced.document.read_text()

    def write(text: str) -> None:
        enforced.document.write_text(text)
        time.sleep(1.2)  # a file document is re-read at most every second

    try:
        yield write
    finally:
        write(original)


def test_renewals_stop_at_the_policys_max_server_duration(enforced, alice, document):
    document(
        enforced.document.read_text().replace(
            "    effect: allow\n", "    effect: allow\n    max_server_duration: 3s\n"
        )
    )
    as_alice = client(enforced, alice)
    grant = as_alice.start("dev", renewable=True, duration_seconds=2)
    assert grant.renew_until is not None
    until = _time(grant.renew_until)
    assert until - _time(grant.expires_at) <= timedelta(seconds=2)
    time.sleep(1.5)
    answer = as_alice.renew(grant.session_id)
    assert answer["expires_at"] == answer["renew_until"] == grant.renew_until
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.2)
    with pytest.raises(ServiceRefused) as err:
        as_alice.credentials(grant.session_id)
    assert err.value.code == "SessionExpired"


def test_a_fixed_session_cannot_be_renewed(enforced, alice):
    as_alice = client(enforced, alice)
    grant = as_alice.start("dev")
    with pytest.raises(ServiceRefused) as err:
        as_alice.renew(grant.session_id)
    assert err.value.code == "NotRenewable"


def test_only_the_creator_can_renew_or_end_a_session(enforced, alice, security):
    grant = client(enforced, alice).start("dev", renewable=True)
    as_security = client(enforced, security)
    for call in (as_security.renew, lambda s: as_security.end(s, "not mine")):
        with pytest.raises(ServiceRefused) as err:
            call(grant.session_id)
        assert err.value.code == "NotSessionOwner"
    ended = client(enforced, alice).end(grant.session_id, "done")
    assert ended["session"]["status"] == "ended"
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).credentials(grant.session_id)
    assert err.value.code == "SessionExpired"
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).end(grant.session_id, "again")
    assert err.value.code == "SessionEnded"


def test_a_revoked_remote_session_prints_the_refusal_on_sentinels_stderr(
    alice_env, enforced, security, child, tmp_path
):
    gate = tmp_path / "go"
    proc = subprocess.Popen(
        [SENTINEL, "exec", "--token-mode", "env", "--profile", "prod", "--"]
        + [sys.executable, child, "gate", str(gate)],
        env=alice_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        session_id = proc.stdout.readline().strip()
        assert len(session_id) == 16
        client(enforced, security).revoke(session_id, "incident 42")
        gate.touch()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(out) == {"status": 403, "code": "SessionRevoked"}
    # The same line local server mode prints, with the service's code and message.
    (line,) = [x for x in err.splitlines() if "refused a credential request" in x]
    assert line.startswith("sentinel: warning: refused a credential request (SessionRevoked): ")
    assert f"session {session_id} was revoked by security: incident 42" in line
    assert proc.returncode == 0


def test_users_list_and_end_their_own_sessions_without_the_table(alice_env, enforced, alice):
    grant = client(enforced, alice).start("dev", renewable=True)
    listed = sentinel(["sessions", "--format", "json"], alice_env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[grant.session_id]["status"] == "active"
    assert {r["user"] for r in rows.values()} == {"alice"}
    ended = sentinel(["end", grant.session_id, "--reason", "not needed"], alice_env)
    assert ended.returncode == 0, ended.stderr
    assert "no credential it issued is valid after" in ended.stdout
    after = {
        r["id"]: r for r in json.loads(sentinel(["sessions", "--format", "json"], alice_env).stdout)
    }
    assert after[grant.session_id]["status"] == "ended"
    assert after[grant.session_id]["end_reason"] == "not needed"
    assert after[grant.session_id]["credentials_valid_until"]


def test_a_user_cannot_end_or_see_another_users_session(alice_env, enforced, security):
    theirs = client(enforced, security).start("dev")
    refused = sentinel(["end", theirs.session_id], alice_env)
    assert refused.returncode == 1 and "NotSessionOwner" in refused.stderr
    listed = json.loads(sentinel(["sessions", "--format", "json"], alice_env).stdout)
    assert theirs.session_id not in {r["id"] for r in listed}
    bad = sentinel(["end", "../../etc"], alice_env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_sessions_human_table_names_the_columns(alice_env, enforced, alice):
    grant = client(enforced, alice).start("dev")
    human = sentinel(["sessions"], alice_env)
    assert human.returncode == 0, human.stderr
    assert grant.session_id in human.stdout
    for header in ("profile", "status", "started", "expires", "requests"):
        assert header in human.stdout


@pytest.mark.parametrize(
    ("leased", "ends_in", "expected_after_end"),
    [
        # a renewable session: STS's 15 minutes after the last possible issue
        (True, timedelta(minutes=3), timedelta(minutes=15)),
        # a fixed session ended early: credentials issued now would last to its end (40 min)
        (False, timedelta(minutes=40), timedelta(minutes=40)),
        # a fixed session near its end: STS's minimum still applies
        (False, timedelta(minutes=5), timedelta(minutes=15)),
        # a fixed session ended early with hours left: at most one hour
        (False, timedelta(hours=5), timedelta(hours=1)),
    ],
)
def test_credentials_valid_until_bounds_every_credential_the_session_issued(
    leased, ends_in, expected_after_end
):
    from sentinelgw.service.core import credentials_valid_until
    from sentinelgw.sessions.model import SessionRecord

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    record = SessionRecord.new(
        id="0123456789abcdef",
        user="alice",
        profile="prod",
        role_arn="arn:aws:iam::123456789012:role/prod",
        started_at=now - timedelta(minutes=30),
        expires_at=now + ends_in,
        server_instance_id="x",
        source_identity="sentinel.alice.0123456789abcdef",
        host="h",
    )
    assert credentials_valid_until(record, now, leased=leased) == now + expected_after_end


def test_a_lapsed_session_bounds_credentials_from_its_last_lease():
    from sentinelgw.service.core import credentials_valid_until
    from sentinelgw.sessions.model import SessionRecord

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    lapsed = now - timedelta(minutes=7)  # the exec was killed; nothing was issued after this
    record = SessionRecord.new(
        id="0123456789abcdef",
        user="alice",
        profile="prod",
        role_arn="arn:aws:iam::123456789012:role/prod",
        started_at=now - timedelta(minutes=30),
        expires_at=lapsed,
        server_instance_id="x",
        source_identity="s",
        host="h",
    )
    assert credentials_valid_until(record, now, leased=True) == lapsed + timedelta(minutes=15)
