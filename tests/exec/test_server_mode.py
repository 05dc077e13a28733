"""``sentinel exec --server`` on the sandbox: real AWS CLI and boto3 children, session records,
revocation mid-run, precedence, and fail-closed behaviour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.conftest import sentinel_command

PY = sys.executable
PROBE = str(Path(__file__).with_name("child_probe.py"))


def sessions(run_sentinel, *args: str) -> list[dict]:
    out = run_sentinel(["server-sessions", "--format", "json", *args])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def session(run_sentinel, sid: str) -> dict:
    out = run_sentinel(["server-session", sid, "--format", "json"])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@contextmanager
def probe(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*sentinel_command(), "exec", "--server", *args, "--", PY, PROBE],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def ask(proc: subprocess.Popen[str]) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("fetch\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def session_id_of(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first and first[0] == "SESSION", first
    return first[1]


@pytest.mark.real_process  # a key path: the installed script and a real child
def test_aws_cli_child_uses_the_endpoint_despite_default_profile(
    run_sentinel, sandbox, sandbox_env
) -> None:
    creds_file = Path(sandbox_env["AWS_SHARED_CREDENTIALS_FILE"])
    assert "[default]" in creds_file.read_text()
    env = {**sandbox_env, "AWS_PROFILE": "dev"}
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod", "--", "aws", "sts", "get-caller-identity"],
        env=env,
    )
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["Arn"]
    assert "assumed-role/sentinel-prod/sentinel.alice." in arn
    sid = arn.rsplit(".", 1)[-1]
    record = session(run_sentinel, sid)
    assert record["status"] == "expired"
    assert record["profile"] == "prod" and record["user"] == "alice"
    assert record["request_count"] >= 1
    assert record["source_identity"] == f"sentinel.alice.{sid}"
    assert record["role_arn"] == sandbox.role_arns["prod"]


def test_child_environment_has_no_static_keys(run_sentinel, sandbox_env) -> None:
    code = (
        "import json, os, stat; e = os.environ; f = e['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];"
        "t = open(f).read(); print(json.dumps({'env': {k: v for k, v in e.items() "
        "if k.startswith(('AWS_', 'BOTO'))}, 'mode': stat.S_IMODE(os.stat(f).st_mode), "
        "'newline': t.endswith('\\n'), 'len': len(t)}))"
    )
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod", "--", PY, "-c", code],
        env={
            **sandbox_env,
            "AWS_ACCESS_KEY_ID": "AKIASTALE",
            "AWS_SECRET_ACCESS_KEY": "stale",
            "AWS_PROFILE": "dev",
        },
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    env = data["env"]
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        assert key not in env
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["BOTO_CONFIG"] == os.devnull
    assert env["AWS_SENTINEL"] == "prod" and env["AWS_SENTINEL_SESSION_ID"]
    assert data["mode"] == 0o600 and data["newline"] is False and data["len"] >= 32


def test_token_in_a_variable(run_sentinel) -> None:
    out = run_sentinel(
        [
            "exec",
            "--server",
            "--token-mode",
            "env",
            "--profile",
            "prod",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
        ]
    )
    assert out.returncode == 0, out.stderr


def test_wrong_token_is_refused_on_the_wire(run_sentinel) -> None:
    code = (
        "import os, urllib.request, urllib.error; "
        "u = os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'];"
        "r = urllib.request.Request(u, headers={'Authorization': 'wrong'});\n"
        "try:\n urllib.request.urlopen(r); print('LEAK')\n"
        "except urllib.error.HTTPError as e: print(e.code)"
    )
    out = run_sentinel(["exec", "--server", "--profile", "prod", "--", PY, "-c", code])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "403"


@pytest.mark.slow  # a live server session, revoked while its child keeps asking
def test_revocation_while_the_child_runs(run_sentinel, sandbox_env) -> None:
    with probe(sandbox_env, "--profile", "prod") as proc:
        sid = session_id_of(proc)
        assert ask(proc).startswith("OK ")
        active = [s["id"] for s in sessions(run_sentinel, "--status", "active")]
        assert sid in active
        rev = run_sentinel(["server-revoke", sid, "--reason", "test revoke"])
        assert rev.returncode == 0, rev.stderr
        time.sleep(1.0)  # a request starting >= 1 s after the revoke returned must be refused
        answer = ask(proc)
        assert answer.startswith("DENIED"), answer
        assert "revoked" in answer and "test revoke" in answer
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    record = session(run_sentinel, sid)
    assert record["status"] == "revoked"
    assert record["revoked_reason"] == "test revoke"
    revoker = subprocess.run(
        [PY, "-c", "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"],
        env=sandbox_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert revoker.startswith("arn:aws:")
    assert record["revoked_by"] == revoker  # the identity that ran server-revoke
    assert record["revoked_at"]


def test_revoking_twice_or_unknown_is_exit_2(run_sentinel) -> None:
    out = run_sentinel(["server-revoke", "0123456789abcdef", "--reason", "x"])
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_policy_edit_applies_to_the_next_request(run_sentinel, sandbox_env, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n  - name: open\n    match: {profile: prod}\n"
        "    effect: require_server_session\n"
    )
    with probe(sandbox_env, "--profile", "prod", "--policy", str(policy)) as proc:
        session_id_of(proc)
        assert ask(proc).startswith("OK ")
        policy.write_text(
            "policies:\n  - name: closed\n    match: {profile: prod}\n"
            "    effect: deny\n    reason: change freeze\n"
        )
        answer = ask(proc)
        assert answer.startswith("DENIED") and "change freeze" in answer
        policy.write_text("policies: [\n")  # broken: fail closed, never serve
        assert ask(proc).startswith("DENIED")


@pytest.mark.parametrize(
    ("args", "env_extra", "needle"),
    [
        (["--no-session-tracking"], {}, "--no-session-tracking"),
        (["--session-table", ""], {"SENTINEL_CONFIG": "EMPTY"}, "no session table"),
    ],
)
def test_require_server_session_messages(
    run_sentinel, sandbox_env, tmp_path, args, env_extra, needle
) -> None:
    env = dict(sandbox_env)
    if env_extra.get("SENTINEL_CONFIG") == "EMPTY":
        cfg = tmp_path / "c.yaml"
        cfg.write_text(
            "policies:\n  - name: prod-tracked\n    match: {profile: prod}\n"
            "    effect: require_server_session\n"
        )
        env["SENTINEL_CONFIG"] = str(cfg)
        args = []
    marker = tmp_path / "ran"
    out = run_sentinel(
        [
            "exec",
            "--server",
            *args,
            "--profile",
            "prod",
            "--",
            PY,
            "-c",
            f"open({str(marker)!r}, 'w')",
        ],
        env=env,
    )
    assert out.returncode == 1, out.stderr
    assert needle in out.stderr
    assert not marker.exists()


def test_dev_is_tracked_by_default_table_and_may_opt_out(run_sentinel) -> None:
    code = "import os; print(os.environ.get('AWS_SENTINEL_SESSION_ID', 'untracked'))"
    out = run_sentinel(["exec", "--server", "--profile", "dev", "--", PY, "-c", code])
    assert out.returncode == 0, out.stderr
    sid = out.stdout.strip()
    assert session(run_sentinel, sid)["profile"] == "dev"
    out = run_sentinel(
        ["exec", "--server", "--no-session-tracking", "--profile", "dev", "--", PY, "-c", code]
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "untracked"


def test_environment_table_counts_in_server_mode(run_sentinel, sandbox_env, sandbox) -> None:
    env = {**sandbox_env, "SENTINEL_SESSION_TABLE": "no-such-table"}
    out = run_sentinel(["exec", "--server", "--profile", "dev", "--", PY, "-c", "1"], env=env)
    assert out.returncode == 2 and "no-such-table" in out.stderr
    # ... and is ignored outside server mode
    out = run_sentinel(["exec", "--profile", "dev", "--", PY, "-c", "1"], env=env)
    assert out.returncode == 0, out.stderr


def test_fail_closed_missing_table(run_sentinel, sandbox, sandbox_env, tmp_path) -> None:
    marker = tmp_path / "ran"
    # The rule has no session_table, so only the config's table counts: configure a missing one.
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text(
        Path(sandbox.sentinel_config).read_text().replace('"sentinel-sessions"', '"missing-table"')
    )
    env = {**sandbox_env, "SENTINEL_CONFIG": str(cfg)}
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod", "--", PY, "-c", f"open({str(marker)!r}, 'w')"],
        env=env,
    )
    assert out.returncode == 2
    assert "missing-table" in out.stderr and "requires session tracking" in out.stderr
    assert not marker.exists() and "Traceback" not in out.stderr


def test_fail_closed_unreachable_dynamodb(run_sentinel, sandbox_env, tmp_path) -> None:
    marker = tmp_path / "ran"
    env = {**sandbox_env, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod", "--", PY, "-c", f"open({str(marker)!r}, 'w')"],
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert "sentinel-sessions" in out.stderr and "could not reach" in out.stderr
    assert not marker.exists()


def test_fail_open_for_profiles_that_do_not_require_tracking(
    run_sentinel, sandbox_env, sandbox, tmp_path
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        Path(sandbox.sentinel_config)
        .read_text()
        .replace("defaults:\n", "defaults:\n  fail_open: true\n", 1)
    )
    env = {
        **sandbox_env,
        "SENTINEL_CONFIG": str(cfg),
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
    }
    out = run_sentinel(
        ["exec", "--server", "--profile", "dev", "--", "aws", "sts", "get-caller-identity"],
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "warning" in out.stderr and "continuing untracked" in out.stderr
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod", "--", PY, "-c", "1"], env=env, timeout=120
    )
    assert out.returncode == 2  # prod requires tracking: fail_open never applies


@pytest.mark.real_process  # a key path: the installed script and a real child
def test_session_marked_expired_when_child_crashes(run_sentinel) -> None:
    code = "import os, sys; print(os.environ['AWS_SENTINEL_SESSION_ID']); sys.exit(3)"
    out = run_sentinel(["exec", "--server", "--profile", "prod", "--", PY, "-c", code])
    assert out.returncode == 3
    assert session(run_sentinel, out.stdout.strip())["status"] == "expired"


def test_session_marked_expired_on_sigterm(run_sentinel, sandbox_env) -> None:
    with probe(sandbox_env, "--profile", "prod") as proc:
        sid = session_id_of(proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert session(run_sentinel, sid)["status"] == "expired"


def test_shell_by_default(run_sentinel, sandbox_env) -> None:
    out = run_sentinel(
        ["exec", "--server", "--profile", "prod"],
        env={**sandbox_env, "SHELL": "/bin/sh"},
        input="aws sts get-caller-identity --query Arn --output text\n",
    )
    assert out.returncode == 0, out.stderr
    assert "assumed-role/sentinel-prod/" in out.stdout


def test_server_duration_is_capped_by_policy(run_sentinel, tmp_path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policies:\n  - name: short\n    match: {profile: prod}\n"
        "    effect: require_server_session\n    max_server_duration: 10m\n"
    )
    code = (
        "import json, os, urllib.request; e = os.environ; "
        "r = urllib.request.Request(e['AWS_CONTAINER_CREDENTIALS_FULL_URI'], headers="
        "{'Authorization': open(e['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']).read()}); "
        "print(json.load(urllib.request.urlopen(r))['Expiration'])"
    )
    out = run_sentinel(
        [
            "exec",
            "--server",
            "--server-duration",
            "1h",
            "--policy",
            str(policy),
            "--profile",
            "prod",
            "--",
            PY,
            "-c",
            code,
        ]
    )
    assert out.returncode == 0, out.stderr
    from datetime import UTC, datetime, timedelta

    expiry = datetime.fromisoformat(out.stdout.strip().replace("Z", "+00:00"))
    assert expiry <= datetime.now(UTC) + timedelta(minutes=10, seconds=5)
    assert "capped at 10m" in out.stderr


def test_sso_source_with_aws_profile(run_sentinel) -> None:
    out = run_sentinel(
        [
            "--aws-profile",
            "sso-admin",
            "exec",
            "--server",
            "--profile",
            "prod-sso",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
        ]
    )
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["Arn"]
    assert "assumed-role/sentinel-prod/sentinel.alice." in arn
    record = session(run_sentinel, arn.rsplit(".", 1)[-1])
    assert record["profile"] == "prod-sso" and record["user"] == "alice"


def test_files_we_write_are_private(run_sentinel, sandbox_env) -> None:
    code = (
        "import os, stat; d = os.path.dirname(os.environ['AWS_CONFIG_FILE']); "
        "print(oct(stat.S_IMODE(os.stat(d).st_mode)), "
        "oct(stat.S_IMODE(os.stat(os.environ['AWS_CONFIG_FILE']).st_mode)), "
        "oct(stat.S_IMODE(os.stat(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'])"
        ".st_mode)))"
    )
    out = run_sentinel(["exec", "--server", "--profile", "prod", "--", PY, "-c", code])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["0o700", "0o600"]
    assert out.stdout.split()[2] == "0o600"  # the token file


def test_server_port_is_honoured_and_a_busy_port_is_one_line(run_sentinel) -> None:
    import socket

    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        free = probe_sock.getsockname()[1]
    code = "import os; print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])"
    out = run_sentinel(
        ["exec", "--server", "--server-port", str(free), "--profile", "prod", "--", PY, "-c", code]
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(f"http://127.0.0.1:{free}/")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_sentinel(
            [
                "exec",
                "--server",
                "--server-port",
                str(port),
                "--profile",
                "prod",
                "--",
                PY,
                "-c",
                "1",
            ]
        )
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


def test_aws_profile_does_not_override_a_configured_source(run_sentinel, sandbox) -> None:
    # prod has source_profile = sentinel-source; --aws-profile sso-admin only serves
    # Sentinel's own calls here, so the role is still assumed as alice the IAM user.
    out = run_sentinel(
        [
            "--aws-profile",
            "sso-admin",
            "exec",
            "--profile",
            "dev",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
        ]
    )
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["Arn"]
    assert "assumed-role/sentinel-dev/sentinel.alice." in arn
    session_name = arn.rsplit("/", 1)[-1]
    event = next(
        e
        for e in reversed(sandbox.recorder.events())
        if e["eventName"] == "AssumeRole"
        and e["requestParameters"].get("roleSessionName") == session_name
    )
    assert event["userIdentity"]["type"] == "IAMUser"
    assert event["userIdentity"]["arn"].endswith(":user/alice")
