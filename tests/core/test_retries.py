"""AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are honoured as in the AWS CLI (Sentinel's default only
when neither is set), counted on a loopback endpoint that always answers 500."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.hardening.faults import canned_http

from sentinelgw.awsclients import DEFAULT_RETRIES, client, retries_for

BIN = Path(sys.executable).parent / "sentinel"


# Every request answered with a JSON 500 (AWS's shape for an internal error).
JSON_500 = '{"__type":"InternalServerError","message":"boom"}'


def always_500() -> contextlib.AbstractContextManager[tuple[str, list[str]]]:
    return canned_http(500, JSON_500, "application/x-amz-json-1.0")


def _env(url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
    )
    env.update(extra)
    return env


def _sessions(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "server-sessions", "--table", "t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_aws_max_attempts_1_sends_exactly_one_request(tmp_path: Path) -> None:
    with always_500() as (url, seen):
        done = _sessions(_env(url, tmp_path, AWS_MAX_ATTEMPTS="1"))
    assert done.returncode == 2, done.stderr
    assert len(seen) == 1, seen


def test_aws_max_attempts_2_sends_two(tmp_path: Path) -> None:
    with always_500() as (url, seen):
        done = _sessions(_env(url, tmp_path, AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="2"))
    assert done.returncode == 2
    assert len(seen) == 2, seen


def test_default_attempts_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    assert retries_for(None) == {"retries": DEFAULT_RETRIES}
    assert retries_for(None, 3) == {"retries": {"mode": "standard", "max_attempts": 3}}


def test_either_variable_hands_retries_to_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert retries_for(None, 3) == {}
    # The audit's own paced loop (max_attempts=0) keeps botocore from retrying under it.
    assert retries_for(None, 0) == {"retries": {"mode": "standard", "max_attempts": 0}}


def test_profile_setting_counts_as_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nmax_attempts = 7\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sts = client("sts", region="us-east-1")
    assert sts.meta.config.retries["total_max_attempts"] == 7
