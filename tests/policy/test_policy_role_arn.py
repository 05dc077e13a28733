"""Rules matching the target role ARN, so a renamed profile cannot escape its role's rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinelgw.errors import PolicyInvalid
from sentinelgw.policy import Mode, Request, evaluate, explain_data, load_policy_text

AT = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)
PROD = "arn:aws:iam::123456789012:role/sentinel-prod"
DEV = "arn:aws:iam::123456789012:role/sentinel-dev"

POLICY = """
policies:
  - name: prod-by-role
    match: {role_arn: "arn:aws:iam::*:role/sentinel-prod"}
    effect: deny
  - name: everything-else
    effect: allow
"""


def _req(profile: str, role_arn: str | None) -> Request:
    return Request(profile=profile, user="alice", mode=Mode.SERVER, at=AT, role_arn=role_arn)


@pytest.mark.parametrize(
    ("profile", "role_arn", "allowed"),
    [
        ("prod", PROD, False),
        ("dev", PROD, False),  # an alias of the prod role is caught by its ARN
        ("renamed-anything", PROD, False),
        ("dev", DEV, True),
        ("prod", DEV, True),  # the role decides, not the name
    ],
)
def test_role_arn_glob_decides_whatever_the_profile_name(profile, role_arn, allowed):
    decision = evaluate(load_policy_text(POLICY, "p.yaml"), _req(profile, role_arn))
    assert decision.allowed is allowed
    assert (decision.rule.name == "prod-by-role") is (not allowed)


def test_unknown_role_arn_does_not_match_a_role_rule():
    decision = evaluate(load_policy_text(POLICY, "p.yaml"), _req("prod", None))
    assert decision.rule is not None and decision.rule.name == "everything-else"
    assert "role ARN is unknown" in decision.skipped[0][2]


def test_go_syntax_role_arns_list():
    text = """
version: "1"
rules:
  - name: r
    conditions: {role_arns: ["arn:aws:iam::*:role/a", "arn:aws:iam::*:role/b"]}
    effect: allow
"""
    policy = load_policy_text(text, "p.yaml")
    assert policy.rules[0].role_arns == ("arn:aws:iam::*:role/a", "arn:aws:iam::*:role/b")
    assert evaluate(policy, _req("x", "arn:aws:iam::1:role/b")).allowed


def test_role_arn_that_is_not_an_arn_is_invalid_with_its_line():
    text = "policies:\n  - name: r\n    match: {role_arn: sentinel-prod}\n    effect: deny\n"
    with pytest.raises(PolicyInvalid) as err:
        load_policy_text(text, "p.yaml")
    assert "p.yaml:3" in str(err.value) and "role_arn" in str(err.value)


def test_explain_shows_the_role_arn():
    request = _req("dev", PROD)
    data = explain_data(evaluate(load_policy_text(POLICY, "p.yaml"), request), request)
    assert data["role_arn"] == PROD and data["rule"] == "prod-by-role"
