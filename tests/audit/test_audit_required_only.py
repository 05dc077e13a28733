"""``audit untracked-sessions --required-only``: the CI gate fails on gaps of profiles whose
rule requires tracking, and agrees with ``session-compliance`` on which those are."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from audithelpers import DEV_ROLE, PROD_ROLE, T0, assume_role

from sentinelgw.timeutil import iso

WINDOW = ["--since", iso(T0 - timedelta(hours=1)), "--until", iso(T0 + timedelta(hours=1))]
Run = Callable[..., Any]


def audit(run_sentinel: Run, env: dict[str, str], *args: str) -> Any:
    return run_sentinel(["audit", *args, *WINDOW], env=env)


def allowed_dev_use(recorder: Any) -> None:
    """Local dev use the policy allows: a CLI-mode session (orphaned) and a plain AssumeRole."""
    orphan = "sentinel.alice.00000000c0ffee00"
    recorder.add_event(assume_role(source_identity=orphan, at=T0, role_arn=DEV_ROLE))
    recorder.add_event(assume_role(at=T0 + timedelta(minutes=1), role_arn=DEV_ROLE))


def test_orphaned_dev_use_fails_the_plain_audit_but_not_the_required_only_gate(
    run_sentinel: Run, audit_env: dict[str, str], recorder: Any
) -> None:
    allowed_dev_use(recorder)
    plain = audit(run_sentinel, audit_env, "untracked-sessions", "--format", "json")
    assert plain.returncode == 1 and json.loads(plain.stdout)["untracked_events"] == 2
    gate = audit(
        run_sentinel, audit_env, "untracked-sessions", "--required-only", "--format", "json"
    )
    assert gate.returncode == 0, gate.stderr
    doc = json.loads(gate.stdout)
    assert doc["untracked_events"] == 2 and doc["required_untracked_events"] == 0
    assert len(doc["untracked_sessions"]) == 2  # still listed
    compliance = audit(run_sentinel, audit_env, "session-compliance")
    assert compliance.returncode == 0, compliance.stdout  # the two audits agree
    human = audit(run_sentinel, audit_env, "untracked-sessions", "--required-only")
    assert human.returncode == 0
    assert "--required-only: 0 of them on profiles whose rule requires tracking" in human.stdout


def test_required_only_gate_fails_on_a_prod_bypass(
    run_sentinel: Run, audit_env: dict[str, str], recorder: Any
) -> None:
    allowed_dev_use(recorder)
    recorder.add_event(assume_role(at=T0 + timedelta(minutes=2), role_arn=PROD_ROLE))
    gate = audit(
        run_sentinel, audit_env, "untracked-sessions", "--required-only", "--format", "json"
    )
    assert gate.returncode == 1, gate.stderr
    doc = json.loads(gate.stdout)
    assert (doc["untracked_events"], doc["required_untracked_events"]) == (3, 1)
    compliance = audit(run_sentinel, audit_env, "session-compliance")
    assert compliance.returncode == 1


def test_required_only_without_a_policy_fails_closed(
    run_sentinel: Run, audit_env: dict[str, str], recorder: Any, tmp_path: Path
) -> None:
    allowed_dev_use(recorder)
    config = tmp_path / "sentinel.yaml"
    config.write_text("defaults:\n  region: us-east-1\n")
    env = {**audit_env, "SENTINEL_CONFIG": str(config)}
    gate = audit(run_sentinel, env, "untracked-sessions", "--required-only")
    assert gate.returncode == 2 and "no policy configured" in gate.stderr


def test_policy_without_required_only_is_a_usage_error(
    run_sentinel: Run, audit_env: dict[str, str], recorder: Any
) -> None:
    out = audit(run_sentinel, audit_env, "untracked-sessions", "--policy", "x.yaml")
    assert out.returncode == 2 and "--required-only" in out.stderr
