"""Break-glass's rules without a sandbox: the document's ``breakglass:`` section, what the proof
shows, and the rate limits' refusals (the flow runs in test_breakglass.py; MFA in
test_mfa_role.py and test_breakglass_mfa.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.credentials import Credentials

from sentinelgw.errors import PolicyInvalid
from sentinelgw.service.breakglass import _rate_limit
from sentinelgw.service.breakglass_rules import BreakGlassPolicy
from sentinelgw.service.document import parse_document
from sentinelgw.service.proof import ProofVerifier, build_proof
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.requests import FINAL, AccessRequest

ROLE = "arn:aws:iam::123456789012:role/prod"
POLICY = "policies:\n  - {name: open, effect: allow}\n"
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def doc(section: str) -> str:
    head = f"profiles:\n  prod: {{role_arn: {ROLE!r}}}\n"
    return f"{head}breakglass:\n{section}\n{POLICY}"


def test_a_document_without_the_section_allows_nobody_and_the_defaults_hold() -> None:
    parsed = parse_document(
        "profiles: {}\npolicies:\n  - {name: open, effect: allow}\n", "service.yaml"
    ).breakglass
    assert not parsed.allows("alice", "prod")
    assert parsed.max_duration == timedelta(hours=4) and parsed.per_user == 3
    assert parsed.cooldown == timedelta(minutes=30) and parsed.require_mfa is False


def test_allow_entries_match_users_and_profiles_by_glob() -> None:
    parsed = parse_document(
        doc("  allow:\n    - {users: [oncall-*], profiles: [prod*]}\n"), "service.yaml"
    ).breakglass
    assert parsed.allows("oncall-bob", "prod") and parsed.allows("oncall-bob", "prod-eu")
    assert not parsed.allows("alice", "prod") and not parsed.allows("oncall-bob", "dev")


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("  max_duration: 5h", "max_duration"),
        ("  per_user: 0", "per_user"),
        ("  window: 30d", "window"),
        ("  require_mfa: yes please", "require_mfa"),
        ("  require_mfa: true", "mfa_role"),
        ("  mfa_role: arn:aws:iam::123456789012:user/alice", "mfa_role"),
        ("  allow:\n    - {users: [alice]}", "allow"),
        ("  forever: true", "breakglass"),
    ],
)
def test_a_bad_breakglass_section_is_refused_naming_the_key(section: str, named: str) -> None:
    with pytest.raises(PolicyInvalid) as err:
        parse_document(doc(section), "service.yaml")
    assert "service.yaml" in str(err.value) and named in str(err.value)


class Sts:
    """The proof transport: STS answering GetCallerIdentity for alice's key."""

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        return 200, (
            b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            b"<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn>"
            b"<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
            b"</GetCallerIdentityResponse>"
        )


@pytest.mark.parametrize(
    ("token", "temporary"), [(None, False), ("FwoGZXIvYXdzEXAMPLETOKEN", True)]
)
def test_the_proof_says_temporary_only_for_a_signed_session_token(
    token: str | None, temporary: bool
) -> None:
    creds = Credentials("ASIAALICE0000000000A", "secret", token)
    now = datetime.now(UTC)
    raw = build_proof(
        creds, service_id="https://svc.test", sts_url="https://sts.test", region="us-east-1"
    )
    verifier = ProofVerifier(
        service_id="https://svc.test", sts_url="https://sts.test", transport=Sts()
    )
    assert verifier.verify(raw, now).temporary is temporary


def test_an_unsigned_session_token_header_does_not_count_as_temporary() -> None:
    creds = Credentials("AKIAALICE0000000000A", "secret")
    raw = build_proof(
        creds, service_id="https://svc.test", sts_url="https://sts.test", region="us-east-1"
    )
    raw["headers"]["X-Amz-Security-Token"] = "added-after-signing"
    verifier = ProofVerifier(
        service_id="https://svc.test", sts_url="https://sts.test", transport=Sts()
    )
    assert verifier.verify(raw, datetime.now(UTC)).temporary is False


def grant(opened: datetime) -> AccessRequest:
    return AccessRequest(
        id="0123456789abcdef",
        requester="alice",
        requester_arn="arn:aws:iam::123456789012:user/alice",
        profile="prod",
        role_arn=ROLE,
        justification="x" * 20,
        duration=timedelta(hours=1),
        status="cancelled",
        created_at=opened,
        pending_until=opened,
        kind="breakglass",
    )


def test_inside_the_cooldown_the_refusal_names_when_the_next_one_is_possible() -> None:
    policy = BreakGlassPolicy(cooldown=timedelta(minutes=30))
    with pytest.raises(Refusal) as err:
        _rate_limit(policy, [grant(NOW - timedelta(minutes=10))], NOW)
    assert err.value.code == "BreakGlassCooldown" and err.value.status == 429
    assert "2026-03-02T03:20:00Z" in err.value.message
    assert err.value.headers["Retry-After"] == "1200"
    _rate_limit(policy, [grant(NOW - timedelta(minutes=31))], NOW)  # past it: allowed


def test_past_n_per_window_the_refusal_names_when_the_oldest_leaves_the_window() -> None:
    policy = BreakGlassPolicy(per_user=2, window=timedelta(hours=24), cooldown=timedelta(0))
    mine = [grant(NOW - timedelta(hours=20)), grant(NOW - timedelta(hours=2))]
    with pytest.raises(Refusal) as err:
        _rate_limit(policy, mine, NOW)
    assert err.value.code == "BreakGlassRateLimited"
    assert "2026-03-02T07:00:00Z" in err.value.message and "limit is 2" in err.value.message
    _rate_limit(policy, [grant(NOW - timedelta(hours=25)), mine[1]], NOW)  # one left the window


class _Grants:
    """The request table's interface over a dict (conditional on the version, as DynamoDB)."""

    def __init__(self, *grants: AccessRequest) -> None:
        self.items = {g.id: g for g in grants}

    def all(self, now: datetime | None = None) -> list[AccessRequest]:
        return list(self.items.values())

    def open(self, now: datetime) -> list[AccessRequest]:
        return [g for g in self.items.values() if g.status not in FINAL]

    def replace(self, old: AccessRequest, new: AccessRequest) -> AccessRequest:
        from dataclasses import replace

        assert self.items[old.id].version == old.version
        self.items[old.id] = replace(new, version=old.version + 1)
        return self.items[old.id]


class _Store:
    def __init__(self) -> None:
        self.revoked: list[tuple[str, str]] = []

    def revoke(self, session_id: str, by: str, reason: str, at: datetime) -> Any:
        self.revoked.append((session_id, reason))
        return session_id


class _Notifier:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, config: Any, notice: Any) -> None:
        self.sent.append(notice)


def test_a_grant_that_ran_out_is_expired_by_the_sweep_its_sessions_revoked_loudly() -> None:
    from types import SimpleNamespace

    from sentinelgw.service.grants import sweep_grants

    running = replace_grant(grant(NOW - timedelta(hours=2)), status="approved")
    table, store, notifier, log = _Grants(running), _Store(), _Notifier(), []
    service = SimpleNamespace(
        requests=SimpleNamespace(table=table),
        table=SimpleNamespace(store=store, block=lambda user, now: None),
        document=lambda: SimpleNamespace(notifications=None),
        notifier=notifier,
        hard_revoke=None,
        forget=lambda session_id: None,
        log_event=log.append,
    )
    assert sweep_grants(service, NOW) == [running.id]  # type: ignore[arg-type]
    assert table.items[running.id].status == "expired"
    assert [sid for sid, _ in store.revoked] == ["1111111111111111"]
    assert "break-glass grant" in store.revoked[0][1]
    [notice] = notifier.sent
    assert notice.urgent and notice.event == "break_glass_expire"
    assert log[0]["breakglass"] == running.id and log[0]["event"] == "breakglass_expire"


def replace_grant(g: AccessRequest, **changes: Any) -> AccessRequest:
    from dataclasses import replace

    return replace(
        g,
        approved_at=g.created_at,
        ends_at=g.created_at + g.duration,
        sessions=("1111111111111111",),
        **changes,
    )
