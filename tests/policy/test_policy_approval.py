"""The require_approval effect: denied without an approved request, tracked with one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sentinelgw.policy import Effect, Mode, Request, denial_message, evaluate, load_policy_text
from sentinelgw.policy.explain import explain_data

AT = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)
POLICY = """
policies:
  - name: prod-approve
    match: {profile: prod-approve}
    effect: require_approval
    max_server_duration: 2h
  - name: rest
    effect: allow
"""


def _service_request(approved: str | None) -> Request:
    return Request(
        profile="prod-approve",
        user="alice",
        mode=Mode.SERVER,
        at=AT,
        session_table="sentinel-sessions",
        session_table_source="the service",
        via_service=True,
        approved_request=approved,
    )


def test_require_approval_without_request_denies_naming_sentinel_request() -> None:
    policy = load_policy_text(POLICY, "p.yaml")
    request = _service_request(None)
    d = evaluate(policy, request)
    assert d.effect is Effect.REQUIRE_APPROVAL
    assert not d.allowed and d.denial == "no_approval" and d.requires_approval
    message = denial_message(d, request)
    assert 'sentinel request --profile prod-approve --justification "…"' in message
    assert "\n" not in message


def test_require_approval_with_request_behaves_as_require_server_session() -> None:
    policy = load_policy_text(POLICY, "p.yaml")
    d = evaluate(policy, _service_request("0123456789abcdef"))
    assert d.allowed and d.requires_session_tracking and d.requires_server and d.tracking
    assert d.approved_request == "0123456789abcdef"
    assert d.max_server_duration is not None and d.max_server_duration.total_seconds() == 7200
    data = explain_data(d, _service_request("0123456789abcdef"))
    assert data["requires_approval"] and data["approved_request"] == "0123456789abcdef"


def test_require_approval_local_cli_mode_is_denied_even_with_server(tmp_path: Path) -> None:
    policy = load_policy_text(POLICY, "p.yaml")
    for mode in Mode:
        request = Request(profile="prod-approve", user="alice", mode=mode, at=AT)
        d = evaluate(policy, request)
        assert not d.allowed and d.denial == "no_approval"
    other = evaluate(policy, Request(profile="dev", user="alice", mode=Mode.CLI, at=AT))
    assert other.allowed and not other.requires_approval


def test_policy_validate_and_explain_know_require_approval(run_sentinel, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    r = run_sentinel("policy", "validate", str(path))
    assert r.returncode == 0, r.stderr
    r = run_sentinel(
        "policy", "explain", "--policy", str(path), "--profile", "prod-approve", "--user", "alice"
    )
    assert r.returncode == 1
    assert "effect require_approval" in r.stdout
    assert "sentinel request --profile prod-approve" in r.stdout
    r = run_sentinel(
        "policy",
        "explain",
        "--format",
        "json",
        "--policy",
        str(path),
        "--profile",
        "prod-approve",
        "--mode",
        "server",
    )
    data = json.loads(r.stdout)
    assert data["denial"] == "no_approval" and data["requires_approval"] is True
    assert data["fix"].startswith("sentinel request --profile prod-approve")


def test_policy_validate_suggests_require_approval_for_a_typo(run_sentinel, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("effect: require_approval", "effect: require_aproval"))
    r = run_sentinel("policy", "validate", str(path))
    assert r.returncode == 2
    assert "require_approval" in r.stderr
