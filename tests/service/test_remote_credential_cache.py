"""credential_process through the service (issue 20): ``sentinel credentials`` and ``export``
reuse one live session per profile and service from a private cache bound to the caller's
identity; ``--no-cache`` starts a new one; a revoked session is refused, then replaced."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import boto3
from tvmhelpers import client

from sentinelgw.credentials.cache import _path, remote_session_key
from sentinelgw.service.client import service_origin


def sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(args, env)


def session_of(enforced: Any, keys: dict[str, str]) -> str:
    """The Sentinel session id of role credentials: the end of their role session name."""
    sts = boto3.client(
        "sts",
        endpoint_url=enforced.endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    return str(sts.get_caller_identity()["Arn"].rsplit(".", 1)[-1])


def credentials(env: dict[str, str], *args: str) -> dict[str, str]:
    done = sentinel(["credentials", *args], env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def entry_path(enforced: Any, env: dict[str, str], profile: str) -> Path:
    key = remote_session_key(
        env,
        service_id=service_origin(enforced.url),
        profile=profile,
        mode="credential_process",
        aws_profile=None,
        duration=None,
    )
    return _path(env, key)


def test_two_credential_process_calls_give_one_session(alice_env, enforced):
    first = session_of(enforced, credentials(alice_env, "--profile", "prod"))
    second = session_of(enforced, credentials(alice_env, "--profile", "prod"))
    assert first == second
    # export through the service (SENTINEL_REMOTE is set) reuses the same session.
    done = sentinel(["export", "--profile", "prod", "--format", "json"], alice_env)
    assert done.returncode == 0, done.stderr
    assert session_of(enforced, json.loads(done.stdout)) == first


def test_no_cache_starts_a_new_session_and_leaves_the_cached_one(alice_env, enforced):
    cached = session_of(enforced, credentials(alice_env, "--profile", "dev"))
    fresh = session_of(enforced, credentials(alice_env, "--profile", "dev", "--no-cache"))
    assert fresh != cached
    assert session_of(enforced, credentials(alice_env, "--profile", "dev")) == cached


def test_the_session_cache_is_private_and_holds_no_credentials(alice_env, enforced):
    keys = credentials(alice_env, "--profile", "dev")
    path = entry_path(enforced, alice_env, "dev")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert keys["SecretAccessKey"] not in text and keys["SessionToken"] not in text
    assert json.loads(text)["session_id"] == session_of(enforced, keys)


def test_a_cached_session_of_another_caller_is_never_served(alice_env, enforced, security):
    # A cache entry naming the security user's session (planted, or left by another identity
    # on this account): the service serves a session only to its creator, so alice gets a
    # session of her own, and the entry is replaced.
    theirs = client(enforced, security).start("dev", mode="credential_process")
    credentials(alice_env, "--profile", "dev")
    path = entry_path(enforced, alice_env, "dev")
    key = json.loads(path.read_text())["cache_key"]
    document = {"cache_key": key, "session_id": theirs.session_id, "expires_at": theirs.expires_at}
    path.write_text(json.dumps(document))
    mine = session_of(enforced, credentials(alice_env, "--profile", "dev"))
    assert mine != theirs.session_id
    assert json.loads(path.read_text())["session_id"] == mine


def test_a_revoked_cached_session_is_refused_once_then_replaced(alice_env, enforced, security):
    revoked = session_of(enforced, credentials(alice_env, "--profile", "dev"))
    client(enforced, security).revoke(revoked, "incident 7")
    refused = sentinel(["credentials", "--profile", "dev"], alice_env)
    assert refused.returncode == 1
    assert "SessionRevoked" in refused.stderr and "incident 7" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert session_of(enforced, credentials(alice_env, "--profile", "dev")) != revoked


def test_export_takes_local_and_remote(alice_env, enforced):
    local = sentinel(["export", "--local", "--profile", "prod"], alice_env)
    assert local.returncode in (1, 2) and "Traceback" not in local.stderr
    env = {k: v for k, v in alice_env.items() if k != "SENTINEL_REMOTE"}
    done = sentinel(["export", "--remote", enforced.url, "--profile", "prod"], env)
    assert done.returncode == 0, done.stderr
    assert "export AWS_SESSION_TOKEN=" in done.stdout
