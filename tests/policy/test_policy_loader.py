"""Loader: both syntaxes give one model; every validation error names file:line and the fix."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from sentinelgw.errors import PolicyInvalid
from sentinelgw.policy import Effect, Mode, Policy, load_policy_text, policy_from_doc
from sentinelgw.yamlsrc import load_yaml

MILESTONE = """\
policies:
  - name: prod-tracked
    match:
      profile: prod
      user: [alice, bob]
      mode: [server]
      time:
        days: [monday, tuesday, wed, thu, Fri]
        hours: {start: "09:00", end: "18:00"}
        timezone: Europe/Berlin
    effect: require_server_session
    session_table: sentinel-sessions
    max_server_duration: 15m
    reason: Production needs tracked, revocable sessions
  - name: dev
    match:
      profile: [dev-*, sandbox]
    effect: allow
  - effect: deny
"""

GO = """\
version: "1"
rules:
  - name: prod-tracked
    conditions:
      profiles: [prod]
      users: [alice, bob]
      mode: server
      time:
        days: [mon, tue, wednesday, thursday, friday]
        hours: {start: "09:00", end: "18:00"}
        timezone: Europe/Berlin
    effect: require_server_session
    session_table: sentinel-sessions
    max_server_duration: 900
    reason: Production needs tracked, revocable sessions
  - name: dev
    conditions:
      profiles: [dev-*, sandbox]
    effect: allow
  - effect: deny
"""


def without_where(p: Policy) -> tuple[object, ...]:
    return tuple(dataclasses.replace(r, where="") for r in p.rules)


def test_both_syntaxes_load_into_the_same_model() -> None:
    a = load_policy_text(MILESTONE, "a.yaml")
    b = load_policy_text(GO.encode(), "b.yaml")
    assert without_where(a) == without_where(b)
    assert (a.syntax, b.syntax) == ("policies", "rules")
    r = a.rules[0]
    assert r.name == "prod-tracked" and r.index == 0 and r.where == "a.yaml:2"
    assert r.profiles == ("prod",) and r.users == ("alice", "bob") and r.modes == (Mode.SERVER,)
    assert r.effect is Effect.REQUIRE_SERVER_SESSION
    assert r.session_table == "sentinel-sessions"
    assert r.max_server_duration == timedelta(minutes=15)
    assert r.time is not None and r.time.days == frozenset(range(5))
    assert (r.time.start, r.time.end, r.time.timezone) == (540, 1080, "Europe/Berlin")
    assert a.rules[2].name == "rule-3" and a.rules[2].profiles is None
    assert b.rules[1].where == "b.yaml:16"


def test_inline_policy_in_a_config_document() -> None:
    text = (
        "defaults:\n  session_table: t-1\npolicies:\n  - match: {profile: x}\n    effect: allow\n"
    )
    pol = policy_from_doc(load_yaml(text, "sentinel.yaml"))
    assert pol.rules[0].where == "sentinel.yaml:4"


def problems(text: str, name: str = "p.yaml") -> list[str]:
    with pytest.raises(PolicyInvalid) as info:
        load_policy_text(text, name)
    assert str(info.value).startswith(info.value.problems[0])
    return info.value.problems


RULE = "policies:\n  - name: r\n    match: {profile: prod}\n"


@pytest.mark.parametrize(
    ("text", "where", "needles"),
    [
        (
            RULE + "    effect: alow\n",
            "p.yaml:4",
            [
                "'alow'",
                "did you mean 'allow'",
                "allow, deny, require_server, require_server_session",
            ],
        ),
        (
            RULE + "    efect: allow\n",
            "p.yaml:4",
            ["unknown key 'efect'", "did you mean 'effect'", "allowed: name, match, effect"],
        ),
        (RULE, "p.yaml:2", ["has no 'effect'", "require_server_session"]),
        (RULE + "    effect: 3\n", "p.yaml:4", ["unknown effect 3", "allowed: allow"]),
        (
            "policies:\n  - match: {profile: prod, mode: serve}\n    effect: allow\n",
            "p.yaml:2",
            ["unknown mode 'serve'", "did you mean 'server'", "cli, server, credential_process"],
        ),
        (
            "policies:\n  - match: {profiles: prod}\n    effect: allow\n",
            "p.yaml:2",
            ["unknown condition 'profiles'", "did you mean 'profile'", "profile, user, mode, time"],
        ),
        (
            "policies:\n  - match: {profile: [prod, 7]}\n    effect: allow\n",
            "p.yaml:2",
            ["must be a name or glob", "7"],
        ),
        ("policies:\n  - match: {profile: []}\n    effect: allow\n", "p.yaml:2", ["empty list"]),
        (
            "policies:\n  - match: prod\n    effect: allow\n",
            "p.yaml:2",
            ["'match' must be a mapping", "profile, user, mode, time"],
        ),
        ("policies: []\n", "p.yaml:1", ["'policies' is empty"]),
        ("policies: {a: 1}\n", "p.yaml:1", ["must be a list of rules"]),
        ("policies:\n  - allow\n", "p.yaml:2", ["rule #1 must be a mapping"]),
        ("", "p.yaml", ["the policy document is empty", "policies:"]),
        ("- a\n", "p.yaml:1", ["not a mapping"]),
        ("rule: []\n", "p.yaml:1", ["unknown top-level key 'rule'", "did you mean 'rules'"]),
        (
            'version: "1"\nrules:\n  - effect: allow\npolicies:\n  - effect: allow\n',
            "p.yaml:",
            ["both policy forms"],
        ),
        (
            'version: "2"\nrules:\n  - effect: allow\n',
            "p.yaml:1",
            ["unsupported version '2'", 'allowed: "1"'],
        ),
        ('version: "1"\n', "p.yaml:1", ["'rules:' is missing"]),
        (
            'version: "1"\nrules:\n  - match: {profile: x}\n    effect: allow\n',
            "p.yaml:3",
            ["unknown key 'match'", "belongs to the 'policies:' form"],
        ),
        (
            'version: "1"\nrules:\n  - conditions: {profile: x}\n    effect: allow\n',
            "p.yaml:3",
            ["unknown condition 'profile'", "did you mean 'profiles'"],
        ),
        (
            RULE + "    effect: allow\n    session_table: ab\n",
            "p.yaml:5",
            ["invalid session_table 'ab'", "3-255 characters"],
        ),
        (
            RULE + "    effect: allow\n    max_server_duration: soon\n",
            "p.yaml:5",
            ["invalid max_server_duration 'soon'", "15m"],
        ),
        (
            RULE + "    effect: allow\n    max_server_duration: 13h\n",
            "p.yaml:5",
            ["out of range", "at most 12h"],
        ),
        (
            RULE + "    effect: allow\n    reason: [x]\n",
            "p.yaml:5",
            ["'reason' must be a non-empty string"],
        ),
        (
            RULE + "    effect: allow\n  - name: r\n    effect: deny\n",
            "p.yaml:5",
            ["duplicate rule name 'r'", "p.yaml:2"],
        ),
    ],
)
def test_validation_errors(text: str, where: str, needles: list[str]) -> None:
    found = problems(text)
    first = found[0]
    assert first.startswith(where), first
    for needle in needles:
        assert needle in first, (needle, first)


TIME = "policies:\n  - match:\n      time:\n{body}    effect: allow\n"


@pytest.mark.parametrize(
    ("body", "where", "needles"),
    [
        (
            '        hours: {start: "25:00", end: "18:00"}\n',
            "p.yaml:4",
            ["invalid time '25:00' for hours.start", "HH:MM"],
        ),
        ('        hours: {start: "9am", end: "18:00"}\n', "p.yaml:4", ["invalid time '9am'"]),
        ('        hours: {start: "09:60", end: "18:00"}\n', "p.yaml:4", ["'09:60'"]),
        ('        hours: {start: "24:00", end: "18:00"}\n', "p.yaml:4", ["'24:00'"]),
        (
            "        hours: {start: 09:00, end: 18:00}\n",
            "p.yaml:4",
            ["hours.end must be a quoted", "1080"],
        ),
        ('        hours: {start: "09:00"}\n', "p.yaml:4", ["needs 'end'"]),
        ('        hours: {start: "09:00", end: "09:00"}\n', "p.yaml:4", ["empty"]),
        (
            '        hours: {begin: "09:00", start: "1:00", end: "2:00"}\n',
            "p.yaml:4",
            ["unknown hours key 'begin'", "allowed: start, end"],
        ),
        ("        hours: 9-5\n", "p.yaml:4", ["'hours' must be a mapping"]),
        (
            "        days: [monday, funday]\n",
            "p.yaml:4",
            ["unknown day 'funday'", "did you mean 'sunday'", "monday..sunday or mon..sun"],
        ),
        ("        days: []\n", "p.yaml:4", ["empty list"]),
        (
            "        days: [monday]\n        timezone: Mars/Olympus\n",
            "p.yaml:5",
            ["unknown timezone 'Mars/Olympus'", "IANA"],
        ),
        (
            "        days: [monday]\n        timezone: Europe/Berln\n",
            "p.yaml:5",
            ["did you mean 'Europe/Berlin'"],
        ),
        (
            "        days: [monday]\n        timezone: ../etc/passwd\n",
            "p.yaml:5",
            ["unknown timezone"],
        ),
        ("        days: [monday]\n        timezone: 5\n", "p.yaml:5", ["IANA zone name"]),
        ("        timezone: UTC\n", "p.yaml:3", ["needs 'days' and/or 'hours'"]),
        (
            "        dayz: [monday]\n",
            "p.yaml:4",
            ["unknown time key 'dayz'", "did you mean 'days'"],
        ),
    ],
)
def test_time_validation_errors(body: str, where: str, needles: list[str]) -> None:
    first = problems(TIME.format(body=body))[0]
    assert first.startswith(where), first
    for needle in needles:
        assert needle in first, (needle, first)


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
policies:
  - name: a
    match: {profile: prod}
    efect: allow
  - name: b
    effect: maybe
  - name: c
    match:
      time: {timezone: Nowhere/Land, days: [mon]}
    effect: allow
"""
    found = problems(text)
    assert [p.split(": ", 1)[0] for p in found] == ["p.yaml:4", "p.yaml:2", "p.yaml:6", "p.yaml:9"]
    with pytest.raises(PolicyInvalid) as info:
        load_policy_text(text, "p.yaml")
    assert "(and 3 more problems)" in str(info.value)


def test_yaml_syntax_error_names_line() -> None:
    found = problems("policies:\n  - effect: allow\n   bad: [\n")
    assert found[0].startswith("p.yaml:")
    assert "YAML" in found[0]
    assert problems(b"\xff\xfe", "x.yaml")[0].startswith("x.yaml: not UTF-8")


def test_case_and_abbreviation_of_days_and_24h_end() -> None:
    pol = load_policy_text(
        TIME.format(
            body='        days: [MON, Sunday]\n        hours: {start: "18:00", end: "24:00"}\n'
        ),
        "p.yaml",
    )
    t = pol.rules[0].time
    assert t is not None and t.days == frozenset({0, 6}) and t.end == 1440 and not t.wraps
