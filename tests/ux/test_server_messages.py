"""Server mode tells the person at the terminal: each refusal once on Sentinel's stderr (then a
count), and the session record says why the session ended."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from uxhelpers import PY, sandbox_client, ux_env

from sentinelgw.server.notices import ThrottledNotice

REFUSING_CHILD = """
import json, os, sys, urllib.request, urllib.error
policy = sys.argv[1]
with open(policy, "w") as f:
    f.write("policies:\\n  - name: no-more\\n    match: {profile: dev}\\n    effect: deny\\n")
token = open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read()
codes = []
for _ in range(5):
    req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                 headers={"Authorization": token})
    try:
        urllib.request.urlopen(req, timeout=10)
        codes.append(200)
    except urllib.error.HTTPError as exc:
        codes.append(exc.code)
print(json.dumps(codes))
"""


@pytest.fixture
def env(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return dict(ux_env(sandbox, sandbox_env, tmp_path), AWS_REGION=sandbox.region)


def _record(run_sentinel: Any, env: dict[str, str], sid: str) -> dict[str, Any]:
    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    out = run_sentinel(
        ["server-session", sid, "--format", "json"], env=dict(env, AWS_PROFILE=SOURCE_PROFILE)
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_refusals_are_printed_once_then_counted(
    run_sentinel: Any, env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "server.yaml"
    policy.write_text("policies:\n  - name: dev\n    match: {profile: dev}\n    effect: allow\n")
    proc = run_sentinel(
        [
            "exec",
            "--server",
            "--policy",
            str(policy),
            "dev",
            "--",
            PY,
            "-c",
            REFUSING_CHILD,
            str(policy),
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [403] * 5
    refusals = [ln for ln in proc.stderr.splitlines() if "refused a credential request" in ln]
    assert len(refusals) == 2, proc.stderr
    assert "(AccessDenied)" in refusals[0] and "no-more" in refusals[0]
    assert refusals[1].endswith("(4 more times not shown)")


def test_clean_exit_records_the_end_reason(run_sentinel: Any, env: dict[str, str]) -> None:
    code = "import os, sys; print(os.environ['AWS_SENTINEL_SESSION_ID']); sys.exit(3)"
    proc = run_sentinel(
        ["exec", "--server", "--policy", env["UX_POLICY"], "dev", "--", PY, "-c", code], env=env
    )
    assert proc.returncode == 3, proc.stderr
    record = _record(run_sentinel, env, proc.stdout.strip())
    assert record["status"] == "expired"
    assert record["end_reason"] == "the command exited with status 3"


def test_failed_server_start_ends_the_record(
    run_sentinel: Any, env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.log"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_sentinel(
            [
                "exec",
                "--server",
                "--server-port",
                str(port),
                "--log-file",
                str(log),
                "--policy",
                env["UX_POLICY"],
                "dev",
                "--",
                "true",
            ],
            env=env,
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    sid = json.loads(log.read_text().splitlines()[-1])["session_id"]
    record = _record(run_sentinel, env, sid)
    assert record["status"] == "expired"
    assert record["end_reason"].startswith(
        f"the server did not start: cannot listen on 127.0.0.1:{port}"
    )


def test_throttled_notice_counts_repeats_per_interval() -> None:
    shown: list[str] = []
    now = [0.0]
    notice = ThrottledNotice(shown.append, interval=60, clock=lambda: now[0])
    for second in range(125):
        now[0] = float(second)
        notice("table unavailable", "outage")
    notice("policy denied", None)
    notice.flush()
    assert shown == [
        "table unavailable",
        "table unavailable (59 more times in the last 60 s)",
        "table unavailable (59 more times in the last 60 s)",
        "policy denied",
        "table unavailable (4 more times not shown)",
    ]


OUTAGE_CHILD = """
import sys, time
import boto3, botocore.session

def session():
    return boto3.Session(botocore_session=botocore.session.Session())

session().client("dynamodb").delete_table(TableName=sys.argv[1])
deadline = time.time() + 4.5
while time.time() < deadline:
    try:
        session().client("sts").get_caller_identity()
    except Exception:
        pass
    time.sleep(0.2)
"""


def test_table_outage_warns_once_then_counts(
    run_sentinel: Any, env: dict[str, str], sandbox: Any
) -> None:
    import uuid

    from sentinelgw.sessions.schema import ensure_table

    table = f"ux-outage-{uuid.uuid4().hex[:8]}"
    ddb = sandbox_client(sandbox, "dynamodb")
    ensure_table(ddb, table)
    proc = run_sentinel(
        [
            "exec",
            "--server",
            "--session-table",
            table,
            "--policy",
            env["UX_POLICY"],
            "dev",
            "--",
            PY,
            "-c",
            OUTAGE_CHILD,
            table,
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    touch = [ln for ln in proc.stderr.splitlines() if "could not update session" in ln]
    assert 1 <= len(touch) <= 2, proc.stderr  # at once, then the count when the session ends
    assert "more time" not in touch[0]
    if len(touch) == 2:
        assert re.search(r"\(\d+ more times? not shown\)$", touch[1]), touch[1]
    refused = [ln for ln in proc.stderr.splitlines() if "refused a credential request" in ln]
    assert len(refused) <= 2, proc.stderr
