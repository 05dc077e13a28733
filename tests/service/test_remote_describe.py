"""The describing commands know the service (issue 20): with SENTINEL_REMOTE set, ``list``,
``policy explain`` and ``config show`` show the service's decision for the caller (a read-only
endpoint that needs a proof) and say which side decided; ``--local`` keeps the local view."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from tvmhelpers import call, client, proof


def sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(args, env)


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


def _exec(env: dict[str, str], profile: str) -> int:
    done = sentinel(["exec", "--profile", profile, "--", sys.executable, "-c", "pass"], env)
    assert "Traceback" not in done.stderr
    return done.returncode


def _listed(env: dict[str, str]) -> dict[str, dict]:
    done = sentinel(["list", "--format", "json"], env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["decided_by"] == "service" and doc["user"] == "alice"
    return {p["profile"]: p["modes"] for p in doc["profiles"]}


@pytest.mark.parametrize("profile", ["prod", "dev"])
def test_list_and_policy_explain_through_the_service_agree_with_exec(alice_env, profile):
    listed = _listed(alice_env)
    explained = sentinel(["policy", "explain", "--profile", profile], alice_env)
    assert listed[profile]["server"]["allowed"] is True
    assert (explained.returncode, _exec(alice_env, profile)) == (0, 0), explained.stderr
    assert "by the credential service at" in explained.stdout
    # prod requires a tracked server session: the service meets it (its table tracks it).
    rule = {"prod": "prod-tracked", "dev": "dev-open"}[profile]
    assert listed[profile]["server"]["rule"] == rule


def test_list_local_keeps_the_local_view(alice_env):
    local = sentinel(["list", "--local", "--format", "json"], alice_env)
    assert local.returncode == 0, local.stderr
    assert "decided_by" not in local.stdout


def test_a_service_deny_is_the_same_in_list_explain_and_exec(alice_env, enforced, document):
    document(
        enforced.document.read_text().replace(
            "    effect: allow\n    reason: Development is open",
            "    effect: deny\n    reason: Development is closed today",
        )
    )
    listed = _listed(alice_env)
    assert listed["dev"]["server"]["allowed"] is False
    assert listed["dev"]["server"]["rule"] == "dev-open"
    explained = sentinel(["policy", "explain", "--profile", "dev", "--format", "json"], alice_env)
    assert explained.returncode == 1
    data = json.loads(explained.stdout)
    assert data["decided_by"] == "service" and data["reason"] == "Development is closed today"
    assert _exec(alice_env, "dev") == 1


def test_explain_names_an_unknown_profile_and_ignores_local_flags(alice_env):
    unknown = sentinel(["policy", "explain", "--profile", "nope"], alice_env)
    assert unknown.returncode == 1 and "UnknownProfile" in unknown.stderr
    noted = sentinel(["policy", "explain", "--profile", "dev", "--user", "bob"], alice_env)
    assert noted.returncode == 0
    assert "--user is ignored with --remote" in noted.stderr and "user alice" in noted.stdout


def test_config_show_names_the_service_and_what_it_says(alice_env, enforced):
    done = sentinel(["config", "show", "--format", "json"], alice_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["remote"]["value"] == enforced.url
    assert doc["remote"]["source"] == "env SENTINEL_REMOTE"
    assert doc["service.user"]["value"] == "alice"
    assert sorted(doc["service.profiles"]["value"]) == ["dev", "prod", "prod-approve"]
    local = json.loads(
        sentinel(["config", "show", "--local", "--format", "json"], alice_env).stdout
    )
    assert local["remote"] == {"value": None, "source": "--local"}
    assert "service.user" not in local


def test_the_decisions_endpoint_needs_a_proof_and_changes_nothing(enforced, alice, security):
    status, body, _ = call(enforced.url, "/v1/me/decisions", {})
    assert status == 401 and body["code"].startswith("Proof")
    before = client(enforced, alice).my_sessions(200)["sessions"]
    status, body, _ = call(
        enforced.url, "/v1/me/decisions", {"proof": proof(enforced, alice), "profile": "prod"}
    )
    assert status == 200 and [p["profile"] for p in body["profiles"]] == ["prod"]
    assert client(enforced, alice).my_sessions(200)["sessions"] == before
