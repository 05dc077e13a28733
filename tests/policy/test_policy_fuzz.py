"""Any input yields a Policy or PolicyInvalid: never another exception, never a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelgw.errors import PolicyInvalid
from sentinelgw.policy import Policy, load_policy_text

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_or_invalid(data: str | bytes) -> None:
    try:
        result = load_policy_text(data, "fuzz.yaml")
    except PolicyInvalid as exc:
        assert exc.problems and all(p.startswith("fuzz.yaml") for p in exc.problems)
        assert all("\n" not in p for p in exc.problems)
        return
    assert isinstance(result, Policy) and result.rules


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    load_or_invalid(data)


# Fragments that steer generated text towards almost-valid policies.
TOKENS = st.sampled_from(
    [
        "policies:",
        "rules:",
        'version: "1"',
        "version: 2",
        "- ",
        "  ",
        "    ",
        "\n",
        "match:",
        "conditions:",
        "profile:",
        "profiles:",
        "user:",
        "users:",
        "mode:",
        "time:",
        "days:",
        "hours:",
        "start:",
        "end:",
        "timezone:",
        "effect:",
        "allow",
        "deny",
        "require_server",
        "require_server_session",
        "session_table:",
        "max_server_duration:",
        "reason:",
        "name:",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '"09:00"',
        "18:00",
        '"24:00"',
        "Europe/Berlin",
        "Mars/X",
        "mon",
        "sunday",
        "prod",
        "dev-*",
        "15m",
        "0s",
        "99999999999999999999",
        "null",
        "~",
        "&a",
        "*a",
        "!!binary",
        "!!python/object",
        "%YAML 1.1",
        "---",
        "...",
        "#",
        "'",
        "\t",
        "<<: *a",
        "? ",
        "|",
        ">",
        "1e309",
        ".nan",
        "2026-01-01",
        "yes",
    ]
)


@FUZZ
@given(st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=60))
def test_yaml_ish_text(parts: list[str]) -> None:
    load_or_invalid(" ".join(parts) if len(parts) % 3 == 0 else "".join(parts))


@FUZZ
@given(
    effect=st.one_of(st.sampled_from(["allow", "deny", "require_server_session"]), st.text()),
    profile=st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.text())),
    start=st.text(max_size=6),
    end=st.text(max_size=6),
    tz=st.text(max_size=20),
    days=st.lists(st.text(max_size=9), max_size=3),
)
def test_structured_rules(
    effect: str, profile: object, start: str, end: str, tz: str, days: list[str]
) -> None:
    import json

    # JSON is YAML, so this builds well-formed documents with arbitrary values.
    doc = {
        "policies": [
            {
                "match": {
                    "profile": profile,
                    "time": {"days": days, "hours": {"start": start, "end": end}, "timezone": tz},
                },
                "effect": effect,
            }
        ]
    }
    load_or_invalid(json.dumps(doc))


def test_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("policies: *a11")
    try:
        load_policy_text("\n".join(lines), "bomb.yaml")
    except PolicyInvalid as exc:
        assert "bomb.yaml" in str(exc)
    else:
        raise AssertionError("an alias bomb must not load")
