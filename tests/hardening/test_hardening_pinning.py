"""Pinning in local mode: a profile alias meets its role's rule, and a decoy table does not
satisfy ``require_server_session``.

The attacks: ``[profile dev]`` pointing at the prod ``role_arn`` escaped prod's rule (it matched
on the profile name only); and ``--session-table decoy`` (or ``SENTINEL_SESSION_TABLE``) made
the server record its session in a table the user created and no security team reads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

import sentinelgw.credentials.gate as gate_mod
from sentinelgw.credentials.gate import PolicyGate
from sentinelgw.credentials.model import AwsCredentials, CallerIdentity, Issued
from sentinelgw.credentials.providers import CredentialPlan
from sentinelgw.decisionlog import DecisionLog
from sentinelgw.policy import Mode, Request, load_policy_text

Run = Callable[..., CompletedProcess[str]]
PY = sys.executable
PROD_ROLE = "arn:aws:iam::123456789012:role/sentinel-prod"


# -- the profile alias ----------------------------------------------------------------------


class Provider:
    """A provider whose profile resolves to the prod role."""

    def plan(self, request_id: str) -> CredentialPlan:
        ident = CallerIdentity(
            arn="arn:aws:iam::123456789012:user/alice",
            account="123456789012",
            user_id="AIDA",
            user="alice",
        )
        return CredentialPlan(ident, request_id, f"sentinel.alice.{request_id}", PROD_ROLE)

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        return Issued(
            credentials=AwsCredentials("ASIA", "s", "t", None),
            profile="dev",
            user="alice",
            identity_arn=plan.identity.arn,
            role_arn=plan.role_arn,
            source_identity=plan.source_identity,
            request_id=plan.request_id,
            region=None,
        )

    def source_session(self) -> Any:
        raise AssertionError("not needed")


def test_local_mode_passes_the_profiles_role_arn_to_the_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Request] = []
    real = gate_mod.decide

    def spy(policy: Any, request: Request, *args: Any, **kw: Any) -> Any:
        seen.append(request)
        return real(policy, request, *args, **kw)

    monkeypatch.setattr(gate_mod, "decide", spy)
    policy = load_policy_text("policies:\n  - effect: allow\n", "p.yaml")
    gate = PolicyGate(
        Provider(),
        policy,
        DecisionLog(),
        profile="dev",
        mode=Mode.CLI,
        at=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )
    gate.retrieve(gate.plan("0123456789abcdef"))
    assert [r.role_arn for r in seen] == [PROD_ROLE]


@pytest.fixture
def alias_env(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "aws-config"
    config.write_text(
        Path(sandbox.aws_config_file).read_text()
        + f"\n[profile dev-alias]\nrole_arn = {sandbox.role_arns['prod']}\n"
        "source_profile = sentinel-source\nregion = us-east-1\n"
    )
    policy = tmp_path / "sentinel.yaml"
    policy.write_text(
        "defaults:\n  session_table: sentinel-sessions\n"
        "policies:\n"
        "  - name: prod-role\n"
        f"    match: {{role_arn: '{sandbox.role_arns['prod']}'}}\n"
        "    effect: require_server_session\n"
        "  - name: everything-else\n"
        "    effect: allow\n"
    )
    return {**sandbox_env, "AWS_CONFIG_FILE": str(config), "SENTINEL_CONFIG": str(policy)}


def test_profile_alias_of_the_prod_role_meets_the_prod_rule(
    run_sentinel: Run, alias_env: dict[str, str]
) -> None:
    # Needs the role_arn match key of the policy loader (credential service work); with both
    # in place, the alias is denied in CLI mode exactly like prod.
    proc = run_sentinel(
        ["exec", "--profile", "dev-alias", "--", PY, "-c", "print('ran')"], env=alias_env
    )
    assert proc.returncode == 1, proc.stderr
    assert "prod-role" in proc.stderr and "ran" not in proc.stdout


# -- the decoy table ------------------------------------------------------------------------


def decoy_run(run: Run, env: dict[str, str], marker: Path, *flags: str) -> CompletedProcess[str]:
    return run(
        [
            "exec",
            "--server",
            *flags,
            "--profile",
            "prod",
            "--",
            PY,
            "-c",
            f"open({str(marker)!r}, 'w')",
        ],
        env=env,
    )


def test_decoy_session_table_flag_does_not_satisfy_require_server_session(
    run_sentinel: Run, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    proc = decoy_run(run_sentinel, sandbox_env, marker, "--session-table", "decoy-table")
    assert proc.returncode == 1 and not marker.exists()
    assert "'sentinel-sessions'" in proc.stderr and "decoy-table" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_decoy_session_table_from_the_environment_is_refused_too(
    run_sentinel: Run, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    env = {**sandbox_env, "SENTINEL_SESSION_TABLE": "decoy-table"}
    proc = decoy_run(run_sentinel, env, marker)
    assert proc.returncode == 1 and not marker.exists()
    assert "'sentinel-sessions'" in proc.stderr and "SENTINEL_SESSION_TABLE" in proc.stderr


def test_naming_the_configured_table_explicitly_still_works(
    run_sentinel: Run, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    proc = decoy_run(run_sentinel, sandbox_env, marker, "--session-table", "sentinel-sessions")
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()
