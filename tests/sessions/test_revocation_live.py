"""Hard revocation of a live server session whose boto3 child already holds credentials.

The server is started with a one-hour lifetime, so the child never asks the server again: only
IAM (on the sandbox, its front's evaluation of ``SentinelRevokedSessions``) can stop it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from subprocess import CompletedProcess
from typing import Any

from revocationhelpers import deny_put_proxy
from sessionhelpers import record, seed
from tests.conftest import sentinel_command

from sentinelgw.sessions.store import SessionStore

Run = Callable[..., CompletedProcess[str]]
CHILD = ["-m", "sentinelgw.sandbox.held_child"]
BOUND_S = 60  # every wait below ends by itself


@contextmanager
def held(env: dict[str, str], *child_args: str) -> Iterator[subprocess.Popen[str]]:
    argv = [
        *sentinel_command(),
        "exec",
        "--server",
        "--server-duration",
        "1h",
        "--profile",
        "prod",
        "--",
        sys.executable,
        *CHILD,
        *child_args,
    ]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(timeout=BOUND_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    text = proc.stdout.readline().strip()
    assert text, proc.stderr.read() if proc.stderr and proc.poll() is not None else "no output"
    return text


def session_of(proc: subprocess.Popen[str]) -> str:
    first = line(proc).split()
    assert first[0] == "SESSION" and len(first[1]) == 16, first
    return first[1]


def ask(proc: subprocess.Popen[str]) -> str:
    assert proc.stdin is not None
    proc.stdin.write("call\n")
    proc.stdin.flush()
    return line(proc)


def test_revoke_denies_the_held_credentials_and_spares_other_sessions(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any
) -> None:
    with held(sandbox_env, "loop", str(BOUND_S)) as revoked, held(sandbox_env, "ask") as other:
        sid = session_of(revoked)
        session_of(other)
        assert line(revoked) == "OK"
        assert ask(other) == "OK"
        proc = run_sentinel(["server-revoke", sid, "--reason", "stolen laptop"])
        assert proc.returncode == 0, proc.stderr
        role = sandbox.role_arns["prod"]
        assert "refused at the server/service" in proc.stdout
        assert f"denied by IAM: policy SentinelRevokedSessions on role {role}" in proc.stdout
        # The child never asked the server again: the IAM deny is what stops it.
        assert line(revoked).split()[:2] == ["DENIED", "AccessDenied"]
        assert ask(other) == "OK"  # another session of the same role keeps working
        assert revoked.wait(timeout=BOUND_S) == 0
    shown = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
    assert shown["status"] == "revoked" and shown["revoked_reason"] == "stolen laptop"


def test_a_soft_revoke_leaves_held_credentials_working(
    run_sentinel: Run, sandbox_env: dict[str, str]
) -> None:
    with held(sandbox_env, "ask") as child:
        sid = session_of(child)
        assert ask(child) == "OK"
        proc = run_sentinel(["server-revoke", sid, "--reason", "soft", "--soft"])
        assert proc.returncode == 0, proc.stderr
        assert "not denied by IAM (--soft)" in proc.stdout
        assert ask(child) == "OK"  # what hard revocation exists to stop


def test_a_failed_iam_step_exits_2_names_the_permission_and_keeps_the_record_revoked(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any, store: SessionStore
) -> None:
    # A session whose credentials may still be live (a lapsed one needs no IAM step).
    start = datetime.now(UTC)
    rec = record(
        7,
        source_identity="sentinel.alice.0000000000000007",
        started_at=start,
        expires_at=start + timedelta(hours=1),
    )
    seed(store.client, store.table, [rec.with_status("active", role_arn=sandbox.role_arns["dev"])])
    with deny_put_proxy(sandbox.endpoint_url) as iam_url:
        env = dict(sandbox_env, AWS_ENDPOINT_URL_IAM=iam_url)
        proc = run_sentinel(
            ["server-revoke", rec.id, "--reason", "no iam", "--table", store.table], env=env
        )
    assert proc.returncode == 2
    assert "refused at the server/service" in proc.stdout
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("sentinel: error: the IAM step failed")
    assert "iam:PutRolePolicy" in error and "the record stays revoked" in error
    assert "Traceback" not in proc.stderr
    stored = store.get(rec.id)
    assert stored is not None and stored.status == "revoked"
