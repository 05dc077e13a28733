"""SourceIdentity and RoleSessionName against botocore's own STS model (botocore and moto do
not enforce the pattern, so a value AWS would reject would otherwise pass every local test)."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelgw.sourceidentity import (
    format_source_identity,
    is_sentinel_format,
    is_valid_sts_value,
    new_id,
    parse_source_identity,
    role_session_name,
)


def _constraints(member: str) -> tuple[re.Pattern[str], int, int]:
    model = botocore.session.get_session().get_service_model("sts")
    shape = model.operation_model("AssumeRole").input_shape.members[member]
    meta = shape.metadata
    # The IAM guide and older models say 64 for SourceIdentity; enforce the stricter bound.
    return re.compile(meta["pattern"], re.ASCII), int(meta["min"]), min(int(meta["max"]), 64)


SOURCE_IDENTITY = _constraints("SourceIdentity")
SESSION_NAME = _constraints("RoleSessionName")


def _accepted(value: str, rules: tuple[re.Pattern[str], int, int]) -> bool:
    pattern, low, high = rules
    return bool(pattern.fullmatch(value)) and low <= len(value) <= high


@settings(max_examples=300, deadline=None)
@given(user=st.text(min_size=0, max_size=200))
def test_any_user_gives_values_sts_accepts(user: str) -> None:
    ident = new_id()
    value = format_source_identity(user, ident)
    assert _accepted(value, SOURCE_IDENTITY)
    assert _accepted(role_session_name(user, ident), SESSION_NAME)
    assert ":" not in value and not value.lower().startswith("aws:")
    assert value.startswith("sentinel")
    parsed = parse_source_identity(value)
    assert parsed is not None and parsed.id == ident


@pytest.mark.parametrize(
    "user", ["alice", "alice.smith@example.com", "bob+ops", "o'brien", "x" * 80, "名前", "a:b:c"]
)
def test_parse_back_user_and_id(user: str) -> None:
    ident = new_id()
    parsed = parse_source_identity(format_source_identity(user, ident))
    assert parsed is not None
    assert parsed.id == ident
    if re.fullmatch(r"[\w+=,.@-]{1,38}", user, re.ASCII):
        assert parsed.user == user


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "sentinel:alice:abc",
        "sentinel.alice",
        "sentinel.alice.XYZ",
        "aws:sentinel.a.0123456789abcdef",
        "other.alice.0123456789abcdef",
    ],
)
def test_non_sentinel_values(value: str | None) -> None:
    assert not is_sentinel_format(value)


def test_colon_form_of_the_go_implementation_is_rejected_by_sts_rules() -> None:
    assert not _accepted("sentinel:alice:abc", SOURCE_IDENTITY)
    assert not is_valid_sts_value("sentinel:alice:abc")
    assert not is_valid_sts_value("aws:anything")


def test_ids_are_16_lower_hex_and_unique() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
