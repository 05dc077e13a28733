"""Break-glass MFA without a sandbox: what the MFA proof must be, and which trust policies of the
MFA role make its sessions proof of MFA (the flow over HTTP is in test_breakglass_mfa.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sentinelgw.service.breakglass_rules import BreakGlassPolicy
from sentinelgw.service.caller import ASSUMED_ROLE, IAM_USER, Caller
from sentinelgw.service.mfa_role import RoleTrust, mfa_met, trust_problem
from sentinelgw.service.proof import VerifiedCaller
from sentinelgw.service.refusal import Refusal

ACCOUNT = "123456789012"
MFA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-breakglass-mfa"
REQUIRED = BreakGlassPolicy(require_mfa=True, mfa_role=MFA_ROLE)
ALICE = Caller(
    user="alice", arn=f"arn:aws:iam::{ACCOUNT}:user/ops/alice", account=ACCOUNT, kind=IAM_USER
)
# The trust policy of the docs (breakglass.md, MFA).
TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "Bool": {"aws:MultiFactorAuthPresent": "true"},
                "StringEquals": {"sts:RoleSessionName": "${aws:username}"},
            },
        }
    ],
}


def session(arn: str, role_id: str = "AROAMFAROLE") -> VerifiedCaller:
    return VerifiedCaller(arn=arn, account=ACCOUNT, user_id=f"{role_id}:x", temporary=True)


MFA_SESSION = session(f"arn:aws:sts::{ACCOUNT}:assumed-role/sentinel-breakglass-mfa/alice")


def reads(trust: Any = TRUST, arn: str = MFA_ROLE, role_id: str = "AROAMFAROLE") -> Any:
    """What iam:GetRole would say of the MFA role."""
    return lambda _arn: RoleTrust(arn, role_id, trust_problem(trust, ACCOUNT))


def refusal(evidence: VerifiedCaller | None, caller: Caller = ALICE, **kw: Any) -> Refusal:
    with pytest.raises(Refusal) as err:
        mfa_met(REQUIRED, caller, evidence, reads(**kw))
    return err.value


def test_a_session_of_the_mfa_role_named_after_the_caller_meets_mfa() -> None:
    assert mfa_met(REQUIRED, ALICE, MFA_SESSION, reads()) == "role sentinel-breakglass-mfa"
    assert mfa_met(BreakGlassPolicy(), ALICE, None, None) is None  # not required: nothing asked


def test_long_term_keys_and_a_get_session_token_session_without_the_mfa_role_are_refused() -> None:
    # The old hole: a GetSessionToken session (temporary IAM user credentials, made with or
    # without a code) proves nothing about MFA; only a session of the MFA role does.
    for caller in (ALICE, Caller(**{**_fields(ALICE), "temporary": True})):
        err = refusal(None, caller)
        assert err.code == "MfaRequired" and err.fields == {"mfa_role": MFA_ROLE}
    err = refusal(session(ALICE.arn, "AIDAALICE"))
    assert err.code == "MfaRequired" and "session of" in err.message


def test_another_roles_session_named_alice_or_the_mfa_role_for_someone_else_is_refused() -> None:
    lookalike = session(f"arn:aws:sts::{ACCOUNT}:assumed-role/sentinel-breakglass-mfa2/alice")
    other_account = session("arn:aws:sts::999999999999:assumed-role/sentinel-breakglass-mfa/alice")
    bobs = session(f"arn:aws:sts::{ACCOUNT}:assumed-role/sentinel-breakglass-mfa/bob")
    for evidence in (lookalike, other_account, bobs):
        assert refusal(evidence).code == "MfaRequired"
    foreign = Caller(
        user="alice",
        arn="arn:aws:iam::999999999999:user/alice",
        account="999999999999",
        kind=IAM_USER,
    )
    assert "another account" in refusal(MFA_SESSION, foreign).message
    role_caller = Caller(
        user="ops/alice", arn=lookalike.arn, account=ACCOUNT, kind=ASSUMED_ROLE, role="ops"
    )
    err = refusal(MFA_SESSION, role_caller)
    assert err.code == "MfaRequired" and "IAM users" in err.message


def test_a_moved_or_recreated_mfa_role_is_refused() -> None:
    moved = f"arn:aws:iam::{ACCOUNT}:role/lookalike/sentinel-breakglass-mfa"
    assert refusal(MFA_SESSION, arn=moved).code == "MfaRoleUntrusted"
    err = refusal(MFA_SESSION, role_id="AROARECREATED")
    assert err.code == "MfaRequired" and "earlier role" in err.message


def _edit(path: str, value: Any) -> dict[str, Any]:
    trust = copy.deepcopy(TRUST)
    st = trust["Statement"][0]
    *parents, last = path.split(".")
    target = st
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return trust


@pytest.mark.parametrize(
    "trust",
    [
        _edit("Condition.Bool", None),
        _edit("Condition.Bool", {"aws:MultiFactorAuthPresent": "false"}),
        _edit("Condition.StringEquals", None),
        _edit("Condition.StringEquals", {"sts:RoleSessionName": "*"}),
        {**_edit("Condition", None)},
        _edit("Principal", {"AWS": "*"}),
        _edit("Principal", "*"),
        _edit("Principal", {"Federated": "cognito-identity.amazonaws.com"}),
        _edit("Principal", {"AWS": "arn:aws:iam::999999999999:root"}),
        {"Statement": [TRUST["Statement"][0], {**_edit("Condition", None)["Statement"][0]}]},
        {"Statement": [{**TRUST["Statement"][0], "Action": "sts:TagSession"}]},
        {"Statement": [{**TRUST["Statement"][0], "NotPrincipal": {"AWS": "x"}}]},
        {
            "Statement": [
                TRUST["Statement"][0],
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "accounts.google.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                },
            ]
        },
        "not json",
    ],
    ids=[
        "no-mfa-condition",
        "mfa-false",
        "no-session-name-pin",
        "session-name-any",
        "no-conditions",
        "any-principal",
        "star-principal",
        "federated",
        "other-account",
        "a-second-open-statement",
        "nobody-may-assume",
        "not-principal",
        "web-identity-sessions",
        "not-json",
    ],
)
def test_an_mfa_role_whose_trust_does_not_require_mfa_for_the_user_is_refused(trust: Any) -> None:
    err = refusal(MFA_SESSION, trust=trust)
    assert err.code == "MfaRoleUntrusted" and MFA_ROLE in err.message


def test_equivalent_spellings_of_the_trust_policy_are_accepted() -> None:
    spelled = _edit("Action", ["sts:*"])
    spelled["Statement"][0]["Principal"] = {"AWS": [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/bob"]}
    spelled["Statement"][0]["Condition"] = {
        "Bool": {"AWS:MultiFactorAuthPresent": ["true"]},
        "StringEquals": {"sts:rolesessionname": "${aws:username}"},
    }
    assert trust_problem(spelled, ACCOUNT) is None
    assert trust_problem("%7B%22Statement%22%3A%5B%5D%7D", ACCOUNT) is not None  # url-encoded


def _fields(caller: Caller) -> dict[str, Any]:
    return {"user": caller.user, "arn": caller.arn, "account": caller.account, "kind": caller.kind}
