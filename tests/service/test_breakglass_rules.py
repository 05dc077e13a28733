"""Break-glass's rules without a sandbox: the document's ``breakglass:`` section, the MFA check
from what the proof shows, and the rate limits' refusals (the flow runs in test_breakglass.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import Credentials

from sentinelgw.errors import PolicyInvalid
from sentinelgw.service.breakglass import _rate_limit, mfa_refusal
from sentinelgw.service.breakglass_rules import BreakGlassPolicy
from sentinelgw.service.caller import ASSUMED_ROLE, IAM_USER, Caller
from sentinelgw.service.document import parse_document
from sentinelgw.service.proof import ProofVerifier, build_proof
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.requests import AccessRequest

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
        ("  allow:\n    - {users: [alice]}", "allow"),
        ("  forever: true", "breakglass"),
    ],
)
def test_a_bad_breakglass_section_is_refused_naming_the_key(section: str, named: str) -> None:
    with pytest.raises(PolicyInvalid) as err:
        parse_document(doc(section), "service.yaml")
    assert "service.yaml" in str(err.value) and named in str(err.value)


def caller(kind: str, temporary: bool = False) -> Caller:
    arn = (
        "arn:aws:iam::123456789012:user/alice"
        if kind == IAM_USER
        else "arn:aws:sts::123456789012:assumed-role/ops/alice"
    )
    return Caller(user="alice", arn=arn, account="123456789012", kind=kind, temporary=temporary)


def test_mfa_required_refuses_long_term_keys_and_role_sessions_and_accepts_a_user_session() -> None:
    required = BreakGlassPolicy(require_mfa=True)
    long_term = mfa_refusal(required, caller(IAM_USER))
    assert long_term is not None and long_term.code == "MfaRequired"
    assert "--mfa-token" in long_term.message
    role = mfa_refusal(required, caller(ASSUMED_ROLE, temporary=True))
    assert role is not None and role.code == "MfaRequired" and "IAM users" in role.message
    assert mfa_refusal(required, caller(IAM_USER, temporary=True)) is None
    assert mfa_refusal(BreakGlassPolicy(), caller(IAM_USER)) is None


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
