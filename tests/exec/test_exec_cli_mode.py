"""``sentinel exec`` and ``sentinel credentials`` in CLI / credential_process mode, on the
sandbox, through the installed command with real children (the AWS CLI and python)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinelgw.sandbox.sso import cache_file_name

PY = sys.executable


@pytest.mark.real_process  # a key path: the installed script and a real child
def test_aws_cli_child_sees_the_assumed_role(run_sentinel, sandbox) -> None:
    out = run_sentinel(["exec", "--profile", "dev", "--", "aws", "sts", "get-caller-identity"])
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["Arn"]
    assert "assumed-role/sentinel-dev/sentinel.alice." in arn


def test_assume_role_carries_a_sentinel_source_identity(run_sentinel, sandbox) -> None:
    out = run_sentinel(["exec", "dev", "--", PY, "-c", "print('hi')"])
    assert out.returncode == 0, out.stderr
    events = [
        e
        for e in sandbox.recorder.events()
        if e["eventName"] == "AssumeRole"
        and e["requestParameters"].get("roleArn") == sandbox.role_arns["dev"]
    ]
    assert events, "no AssumeRole recorded"
    si = events[-1]["requestParameters"]["sourceIdentity"]
    assert si.startswith("sentinel.alice.")
    assert events[-1]["requestParameters"]["roleSessionName"] == si


def test_child_environment(run_sentinel, sandbox_env) -> None:
    env = {
        **sandbox_env,
        "AWS_PROFILE": "dev",
        "AWS_DEFAULT_PROFILE": "other",
        "AWS_SECURITY_TOKEN": "stale",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://x",
    }
    code = (
        "import json, os; "
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWS_')}))"
    )
    out = run_sentinel(["exec", "--", PY, "-c", code], env=env)  # profile from AWS_PROFILE
    assert out.returncode == 0, out.stderr
    child = json.loads(out.stdout)
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_REGION",
    ):
        assert child.get(key), key
    assert child["AWS_SENTINEL"] == "dev"
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        assert key not in child
    expiry = datetime.fromisoformat(child["AWS_CREDENTIAL_EXPIRATION"].replace("Z", "+00:00"))
    assert expiry > datetime.now(UTC)


@pytest.mark.real_process  # a key path: the installed script and a real child
def test_exit_status_is_the_childs(run_sentinel) -> None:
    out = run_sentinel(["exec", "--profile", "dev", "--", PY, "-c", "import sys; sys.exit(7)"])
    assert out.returncode == 7


def test_command_runs_without_a_shell(run_sentinel, tmp_path) -> None:
    marker = tmp_path / "pwned"
    out = run_sentinel(["exec", "--profile", "dev", "--", "echo", f"x; touch {marker}"])
    assert out.returncode == 0
    assert out.stdout.strip() == f"x; touch {marker}"
    assert not marker.exists()


def test_signals_are_forwarded(sandbox_env, tmp_path) -> None:
    from tests.conftest import sentinel_command

    script = tmp_path / "child.py"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [*sentinel_command(), "exec", "--profile", "dev", "--", PY, str(script)],
        env=sandbox_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 42


def test_nested_exec_is_refused(run_sentinel, sandbox_env) -> None:
    out = run_sentinel(
        ["exec", "--profile", "dev", "--", PY, "-c", "1"],
        env={**sandbox_env, "AWS_SENTINEL": "prod"},
    )
    assert out.returncode == 2
    assert "already inside 'sentinel exec'" in out.stderr


def test_shell_starts_without_a_command(run_sentinel, sandbox_env) -> None:
    out = run_sentinel(
        ["exec", "--profile", "dev"],
        env={**sandbox_env, "SHELL": "/bin/sh"},
        input="echo in-shell $AWS_SENTINEL\n",
    )
    assert out.returncode == 0, out.stderr
    assert "in-shell dev" in out.stdout


@pytest.mark.parametrize(
    "mode_args", [["exec", "--profile", "prod", "--"], ["credentials", "--profile", "prod"]]
)
def test_require_server_session_denies_cli_and_credential_process(
    run_sentinel, tmp_path, mode_args
) -> None:
    marker = tmp_path / "ran"
    args = list(mode_args)
    if args[0] == "exec":
        args += [PY, "-c", f"open({str(marker)!r}, 'w')"]
    out = run_sentinel(args)
    assert out.returncode == 1
    assert not marker.exists()
    assert "AccessKeyId" not in out.stdout and out.stdout.strip() == ""
    assert "prod-tracked" in out.stderr
    assert "sentinel exec --server" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unknown_profile_is_one_line_exit_2(run_sentinel) -> None:
    out = run_sentinel(["exec", "--profile", "nope", "--", PY, "-c", "1"])
    assert out.returncode == 2
    assert "'nope' was not found" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_no_profile_at_all_is_a_usage_error(run_sentinel) -> None:
    out = run_sentinel(["credentials"])
    assert out.returncode == 2 and "--profile" in out.stderr


@pytest.mark.real_process  # a key path: the installed script and a real child
def test_credentials_json_contract_and_cache(run_sentinel, sandbox_env) -> None:
    out = run_sentinel(["credentials", "--profile", "dev"])
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["Version"] == 1 and isinstance(doc["Version"], int)
    assert doc["AccessKeyId"] and doc["SecretAccessKey"] and doc["SessionToken"]
    expiry = datetime.fromisoformat(doc["Expiration"].replace("Z", "+00:00"))
    assert expiry - datetime.now(UTC) > timedelta(minutes=15)
    cache_dir = Path(sandbox_env["HOME"]) / ".sentinel" / "cache"
    files = list(cache_dir.glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    again = run_sentinel(["credentials", "--profile", "dev"])
    assert json.loads(again.stdout)["AccessKeyId"] == doc["AccessKeyId"]


def test_warm_credentials_do_not_import_boto3(run_sentinel, sandbox_env) -> None:
    assert run_sentinel(["credentials", "--profile", "dev"]).returncode == 0
    probe = (
        "import sys; from sentinelgw.cli.main import main; rc = main(['credentials', "
        "'--profile', 'dev']); heavy = [m for m in ('boto3', 'botocore', 'rich', 'yaml') "
        "if m in sys.modules]; sys.stderr.write('HEAVY=' + ','.join(heavy)); sys.exit(rc)"
    )
    out = subprocess.run(
        [PY, "-c", probe], env=sandbox_env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY=" in out.stderr and out.stderr.strip().endswith("HEAVY=")


def test_cache_never_changes_a_decision(run_sentinel, sandbox_env, tmp_path) -> None:
    assert run_sentinel(["credentials", "--profile", "dev"]).returncode == 0
    deny = tmp_path / "deny.yaml"
    deny.write_text("policies:\n  - name: nothing\n    match: {profile: dev}\n    effect: deny\n")
    out = run_sentinel(["credentials", "--profile", "dev", "--policy", str(deny)])
    assert out.returncode == 1 and out.stdout == ""


def test_cache_is_not_served_near_expiry(run_sentinel, sandbox_env) -> None:
    first = json.loads(run_sentinel(["credentials", "--profile", "dev"]).stdout)
    cache_dir = Path(sandbox_env["HOME"]) / ".sentinel" / "cache"
    path = next(cache_dir.glob("*.json"))
    entry = json.loads(path.read_text())
    soon = datetime.now(UTC) + timedelta(minutes=14)
    entry["Expiration"] = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(entry))
    second = json.loads(run_sentinel(["credentials", "--profile", "dev"]).stdout)
    assert second["AccessKeyId"] != first["AccessKeyId"]


def test_decision_log_file(run_sentinel, tmp_path) -> None:
    log = tmp_path / "decisions.jsonl"
    ok = run_sentinel(["--log-file", str(log), "credentials", "--profile", "dev", "--no-cache"])
    denied = run_sentinel(["credentials", "--profile", "prod", "--log-file", str(log)])
    assert ok.returncode == 0 and denied.returncode == 1
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["effect"] for x in lines] == ["allow", "deny"]
    for x in lines:
        for key in (
            "time",
            "user",
            "profile",
            "mode",
            "effect",
            "rule",
            "reason",
            "source_identity",
            "request_id",
        ):
            assert key in x
        assert x["user"] == "alice" and x["mode"] == "credential_process"
    assert lines[0]["source_identity"].startswith("sentinel.alice.")
    secret = json.loads(ok.stdout)["SecretAccessKey"]
    assert secret not in log.read_text()


def test_decision_log_stderr(run_sentinel) -> None:
    out = run_sentinel(["credentials", "--profile", "dev", "--no-cache", "--log-stderr"])
    assert out.returncode == 0
    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert line["effect"] == "allow" and line["profile"] == "dev"


def test_sso_profile_is_issued_through_the_sandbox_portal(run_sentinel) -> None:
    out = run_sentinel(
        ["exec", "--profile", "sso-admin", "--", "aws", "sts", "get-caller-identity"]
    )
    assert out.returncode == 0, out.stderr
    assert "AWSReservedSSO_SandboxAdmin" in json.loads(out.stdout)["Arn"]


def test_missing_and_expired_sso_token(run_sentinel, sandbox_env, sandbox, tmp_path) -> None:
    empty = tmp_path / "sso-cache"
    empty.mkdir()
    env = {**sandbox_env, "SENTINEL_SSO_CACHE_DIR": str(empty)}
    out = run_sentinel(["exec", "--profile", "sso-admin", "--", PY, "-c", "1"], env=env)
    assert out.returncode == 2
    assert "aws sso login" in out.stderr and "Traceback" not in out.stderr
    source = sandbox.sso_cache_dir / cache_file_name()
    data = json.loads(source.read_text())
    data["expiresAt"] = "2020-01-01T00:00:00Z"
    (empty / source.name).write_text(json.dumps(data))
    out = run_sentinel(["exec", "--profile", "sso-admin", "--", PY, "-c", "1"], env=env)
    assert out.returncode == 2
    assert "has expired" in out.stderr and "aws sso login --sso-session sandbox" in out.stderr


def test_unreachable_sts_is_one_line(run_sentinel, sandbox_env) -> None:
    env = {**sandbox_env, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"}
    out = run_sentinel(["exec", "--profile", "dev", "--", PY, "-c", "1"], env=env, timeout=120)
    assert out.returncode == 2
    assert "sts:GetCallerIdentity" in out.stderr and "could not reach" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_debug_shows_a_traceback(run_sentinel) -> None:
    out = run_sentinel(["--debug", "exec", "--profile", "nope", "--", PY, "-c", "1"])
    assert out.returncode == 2 and "Traceback" in out.stderr


def test_home_is_never_written_outside_sentinel_dir(run_sentinel, sandbox_env) -> None:
    home = Path(sandbox_env["HOME"])
    assert run_sentinel(["credentials", "--profile", "dev"]).returncode == 0
    assert run_sentinel(["exec", "--profile", "dev", "--", PY, "-c", "1"]).returncode == 0
    assert (
        run_sentinel(["exec", "--server", "--profile", "prod", "--", PY, "-c", "1"]).returncode == 0
    )
    assert sorted(p.name for p in home.iterdir()) == [".sentinel"]
    assert list((home / ".sentinel" / "cache").glob("*.json")), "the cache was not written"
    assert not (home / ".aws").exists()
    assert os.environ["HOME"] == str(home)
