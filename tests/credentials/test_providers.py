"""The provider layers with plain fakes of our own protocol: the policy gate decides before
anything is issued, and the cache answers without the inner provider."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinelgw.credentials.cache import CachedProvider, cache_key
from sentinelgw.credentials.gate import PolicyGate
from sentinelgw.credentials.model import AwsCredentials, CallerIdentity, Issued
from sentinelgw.credentials.providers import CredentialPlan
from sentinelgw.decisionlog import DecisionLog
from sentinelgw.errors import PolicyDenied
from sentinelgw.policy import Mode, load_policy_text

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
POLICY = load_policy_text(
    "policies:\n  - name: alice-dev\n    match: {profile: dev, user: [alice]}\n    effect: allow\n",
    "policy.yaml",
)


class FakeProvider:
    """A provider of our protocol that records what it was asked."""

    def __init__(self, user: str = "alice") -> None:
        self.user = user
        self.retrieved: list[CredentialPlan] = []
        self.planned = 0

    def plan(self, request_id: str) -> CredentialPlan:
        self.planned += 1
        ident = CallerIdentity(
            f"arn:aws:iam::123456789012:user/{self.user}", "123456789012", "AID", self.user
        )
        return CredentialPlan(ident, request_id, f"sentinel.{self.user}.{request_id}")

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        self.retrieved.append(plan)
        creds = AwsCredentials(
            f"ASIA{len(self.retrieved):016d}", "s" * 40, "t" * 40, NOW + timedelta(hours=1)
        )
        return Issued(
            creds,
            "dev",
            plan.identity.user,
            plan.identity.arn,
            "arn:aws:iam::123456789012:role/dev",
            plan.source_identity,
            plan.request_id,
            "us-east-1",
        )

    def source_session(self) -> object:
        raise AssertionError("not needed")


def gate(inner: object, log: DecisionLog, profile: str = "dev") -> PolicyGate:
    return PolicyGate(inner, POLICY, log, profile=profile, mode=Mode.CLI, at=NOW)  # type: ignore[arg-type]


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_gate_refuses_before_the_provider_issues_anything() -> None:
    stream = io.StringIO()
    inner = FakeProvider(user="mallory")
    g = gate(inner, DecisionLog(streams=[stream]))
    with pytest.raises(PolicyDenied):
        g.retrieve(g.plan("0123456789abcdef"))
    assert inner.retrieved == []
    [line] = log_lines(stream)
    assert line["allowed"] is False and line["user"] == "mallory"
    assert line["request_id"] == "0123456789abcdef"


def test_the_gate_logs_the_plan_and_then_issues() -> None:
    stream = io.StringIO()
    inner = FakeProvider()
    g = gate(inner, DecisionLog(streams=[stream]))
    issued = g.retrieve(g.plan("0123456789abcdef"))
    assert [p.request_id for p in inner.retrieved] == ["0123456789abcdef"]
    [line] = log_lines(stream)
    assert line["allowed"] is True and line["rule"] == "alice-dev"
    assert line["source_identity"] == issued.source_identity == "sentinel.alice.0123456789abcdef"


def test_the_cache_serves_a_hit_without_the_inner_provider_but_the_gate_still_decides(
    tmp_path: Path,
) -> None:
    env = {"HOME": str(tmp_path)}
    key = cache_key(env, "dev", None, "us-east-1")
    first_inner = FakeProvider()
    cold = CachedProvider(lambda: first_inner, env, key, NOW, "dev")
    issued = gate(cold, DecisionLog()).retrieve(cold.plan("aaaaaaaaaaaaaaaa"))
    assert first_inner.planned == 1 and len(first_inner.retrieved) == 1

    def no_inner() -> FakeProvider:
        raise AssertionError("a cache hit must not build the inner provider")

    stream = io.StringIO()
    warm = CachedProvider(no_inner, env, key, NOW + timedelta(minutes=5), "dev")
    plan = warm.plan("bbbbbbbbbbbbbbbb")
    again = gate(warm, DecisionLog(streams=[stream])).retrieve(plan)
    assert again.credentials == issued.credentials
    assert again.request_id == issued.request_id == "aaaaaaaaaaaaaaaa"
    assert [line["allowed"] for line in log_lines(stream)] == [True]


def test_a_cache_entry_near_its_expiry_is_a_miss(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    key = cache_key(env, "dev", None, "us-east-1")
    CachedProvider(FakeProvider, env, key, NOW, "dev").retrieve(FakeProvider().plan("a" * 16))
    inner = FakeProvider()
    late = CachedProvider(lambda: inner, env, key, NOW + timedelta(minutes=50), "dev")
    late.retrieve(late.plan("c" * 16))
    assert inner.planned == 1 and len(inner.retrieved) == 1
