"""Table-driven tests of policy semantics: matching, effects × modes × tables, time windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sentinelgw.policy import (
    Effect,
    Mode,
    Request,
    denial_message,
    evaluate,
    fix_command,
    load_policy_text,
    required_for_profile,
)

AT = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)  # a Monday

BASIC = """
policies:
  - name: dev
    match: {profile: [dev-*, sandbox]}
    effect: allow
  - name: blocked
    match: {profile: prod, user: mallory}
    effect: deny
  - name: prod-tracked
    match: {profile: prod}
    effect: require_server_session
  - name: staging
    match: {profile: staging}
    effect: require_server
  - name: audit-team
    match: {profile: audit, user: [alice, "sec-*"], mode: [cli, server]}
    effect: allow
"""


CONFIG_SOURCE = "sentinel.yaml:2"


def req(
    profile: str,
    *,
    user: str | None = "alice",
    mode: Mode = Mode.CLI,
    table: str | None = None,
    source: str | None = None,
    off: bool = False,
    at: datetime = AT,
    config: str | None = None,
) -> Request:
    """A request; a ``table`` without a ``source`` is the config's defaults.session_table."""
    source = source or (CONFIG_SOURCE if table else None)
    if config is None and source == CONFIG_SOURCE:
        config = table
    return Request(
        profile=profile,
        user=user,
        mode=mode,
        at=at,
        session_table=table,
        session_table_source=source,
        no_session_tracking=off,
        config_session_table=config,
    )


@pytest.mark.parametrize(
    ("profile", "user", "mode", "rule", "allowed", "denial"),
    [
        ("dev-alice", "alice", Mode.CLI, "dev", True, None),
        ("dev-", "bob", Mode.CREDENTIAL_PROCESS, "dev", True, None),
        ("sandbox", "bob", Mode.CLI, "dev", True, None),
        ("sandbox2", "bob", Mode.CLI, None, False, "no_match"),
        ("Dev-x", "bob", Mode.CLI, None, False, "no_match"),  # globs are case-sensitive
        ("prod", "mallory", Mode.SERVER, "blocked", False, "deny"),  # first match wins
        ("prod", "alice", Mode.CLI, "prod-tracked", False, "not_server"),
        ("staging", "alice", Mode.SERVER, "staging", True, None),
        ("staging", "alice", Mode.CLI, "staging", False, "not_server"),
        ("audit", "alice", Mode.CLI, "audit-team", True, None),
        ("audit", "sec-bob", Mode.SERVER, "audit-team", True, None),
        ("audit", "carol", Mode.CLI, None, False, "no_match"),
        ("audit", "alice", Mode.CREDENTIAL_PROCESS, None, False, "no_match"),
        ("audit", None, Mode.CLI, None, False, "no_match"),  # unknown user: user rules skip
        ("unknown", "alice", Mode.CLI, None, False, "no_match"),  # default deny
    ],
)
def test_matching(
    profile: str, user: str | None, mode: Mode, rule: str | None, allowed: bool, denial: str | None
) -> None:
    pol = load_policy_text(BASIC, "p.yaml")
    d = evaluate(pol, req(profile, user=user, mode=mode))
    assert (d.rule.name if d.rule else None) == rule
    assert d.allowed is allowed
    assert d.denial == denial
    if rule is None:
        assert d.effect is None and d.rule_index is None
        assert len(d.skipped) == len(pol.rules)


def test_skipped_reasons_name_each_earlier_rule() -> None:
    pol = load_policy_text(BASIC, "p.yaml")
    d = evaluate(pol, req("audit", user=None))
    whys = {name: why for _, name, why in d.skipped}
    assert whys["dev"] == "profile audit does not match any of dev-*, sandbox"
    assert whys["blocked"] == "profile audit does not match prod"
    assert "user is unknown" in whys["audit-team"]
    d = evaluate(pol, req("audit", user="carol"))
    assert dict((n, w) for _, n, w in d.skipped)["audit-team"] == (
        "user carol does not match any of alice, sec-*"
    )
    d = evaluate(pol, req("audit", mode=Mode.CREDENTIAL_PROCESS))
    assert dict((n, w) for _, n, w in d.skipped)["audit-team"] == (
        "mode credential_process is not any of cli, server"
    )
    d = evaluate(pol, req("prod"))
    assert [i for i, _, _ in d.skipped] == [0, 1]
    assert d.rule_index == 2


def one_rule(effect: str, table: str | None = None) -> str:
    extra = f"\n    session_table: {table}" if table else ""
    return f"""
policies:
  - name: r
    match: {{profile: prod}}
    effect: {effect}{extra}
    max_server_duration: 10m
"""


S, C, P = Mode.SERVER, Mode.CLI, Mode.CREDENTIAL_PROCESS
RT = "rule-table"
# effect, rule table, mode, request table, --no-session-tracking
#   -> allowed, denial, tracking, requires_server, requires_tracking
EFFECT_TABLE = [
    ("allow", None, C, None, False, True, None, False, False, False),
    ("allow", None, C, "t1", False, True, None, False, False, False),
    ("allow", None, P, None, False, True, None, False, False, False),
    ("allow", None, S, None, False, True, None, False, False, False),
    ("allow", None, S, "t1", False, True, None, True, False, False),
    ("allow", None, S, "t1", True, True, None, False, False, False),
    ("allow", RT, S, None, False, True, None, True, False, False),
    ("allow", RT, S, None, True, True, None, False, False, False),
    ("deny", None, C, None, False, False, "deny", False, False, False),
    ("deny", None, S, "t1", False, False, "deny", False, False, False),
    ("deny", RT, P, None, False, False, "deny", False, False, False),
    ("require_server", None, C, None, False, False, "not_server", False, True, False),
    ("require_server", None, C, "t1", False, False, "not_server", False, True, False),
    ("require_server", None, P, None, False, False, "not_server", False, True, False),
    ("require_server", None, S, None, False, True, None, False, True, False),
    ("require_server", None, S, "t1", False, True, None, True, True, False),
    ("require_server", None, S, "t1", True, True, None, False, True, False),
    ("require_server", RT, S, None, False, True, None, True, True, False),
    ("require_server_session", None, C, None, False, False, "not_server", False, True, True),
    ("require_server_session", None, C, "t1", False, False, "not_server", False, True, True),
    ("require_server_session", RT, C, None, False, False, "not_server", False, True, True),
    ("require_server_session", None, P, "t1", False, False, "not_server", False, True, True),
    ("require_server_session", None, S, None, False, False, "no_session_table", False, True, True),
    ("require_server_session", None, S, None, True, False, "no_session_table", False, True, True),
    ("require_server_session", None, S, "t1", False, True, None, True, True, True),
    ("require_server_session", RT, S, None, False, True, None, True, True, True),
    ("require_server_session", RT, S, "t1", False, True, None, True, True, True),
    ("require_server_session", None, S, "t1", True, False, "tracking_disabled", False, True, True),
    ("require_server_session", RT, S, None, True, False, "tracking_disabled", False, True, True),
]


@pytest.mark.parametrize(
    (
        "effect",
        "rule_table",
        "mode",
        "table",
        "off",
        "allowed",
        "denial",
        "tracking",
        "requires_server",
        "requires_tracking",
    ),
    EFFECT_TABLE,
)
def test_effects_by_mode_and_table(
    effect: str,
    rule_table: str | None,
    mode: Mode,
    table: str | None,
    off: bool,
    allowed: bool,
    denial: str | None,
    tracking: bool,
    requires_server: bool,
    requires_tracking: bool,
) -> None:
    pol = load_policy_text(one_rule(effect, rule_table), "p.yaml")
    r = req("prod", mode=mode, table=table, off=off)
    d = evaluate(pol, r)
    assert d.effect is Effect(effect)
    assert (d.allowed, d.denial, d.tracking) == (allowed, denial, tracking)
    assert (d.requires_server, d.requires_session_tracking) == (requires_server, requires_tracking)
    assert d.max_server_duration == timedelta(minutes=10)
    expected_table = rule_table or table
    assert d.session_table == expected_table
    if allowed:
        assert fix_command(d, r) is None
    msg = denial_message(d, r)
    assert "\n" not in msg
    if requires_tracking and rule_table is None and table is None:
        # Only a table in the config satisfies the rule, so no command line can fix it.
        assert fix_command(d, r) is None
    elif denial in ("not_server", "no_session_table", "tracking_disabled"):
        fix = fix_command(d, r)
        assert fix is not None and fix.startswith("sentinel exec --server ")
        assert fix.endswith("--profile prod -- ...")
        assert "--no-session-tracking" not in fix
        assert fix in msg
        # The suggested command really is allowed.
        fixed = evaluate(
            pol,
            req(
                "prod",
                mode=S,
                table=_table_in(fix) or table,
                source="--session-table" if _table_in(fix) else None,
            ),
        )
        assert fixed.allowed
    if denial == "deny":
        assert fix_command(d, r) is None


def _table_in(fix: str) -> str | None:
    words = fix.split()
    return words[words.index("--session-table") + 1] if "--session-table" in words else None


def test_rule_table_overrides_request_table() -> None:
    pol = load_policy_text(one_rule("require_server_session", "policy-table"), "p.yaml")
    d = evaluate(pol, req("prod", mode=S, table="flag-table"))
    assert d.session_table == "policy-table"
    assert d.session_table_source == "policy rule r (p.yaml:3)"
    d = evaluate(
        load_policy_text(one_rule("allow"), "p.yaml"),
        req("prod", mode=S, table="t", source="env SENTINEL_SESSION_TABLE"),
    )
    assert (d.session_table, d.session_table_source) == ("t", "env SENTINEL_SESSION_TABLE")


def test_denial_messages_are_distinct_and_name_the_fix() -> None:
    pol = load_policy_text(one_rule("require_server_session"), "p.yaml")
    cases = {
        "not_server": req("prod", mode=C, table="t1"),
        "cp": req("prod", mode=P),
        "no_session_table": req("prod", mode=S),
        "tracking_disabled": req("prod", mode=S, table="t1", off=True),
        "untrusted_session_table": req(
            "prod", mode=S, table="decoy", source="--session-table", config="t1"
        ),
    }
    msgs = {k: denial_message(evaluate(pol, r), r) for k, r in cases.items()}
    assert len(set(msgs.values())) == 5
    assert msgs["not_server"] == (
        "policy rule 'r' (p.yaml:3) requires server mode with session tracking for profile "
        "'prod'. Run: sentinel exec --server --profile prod -- ..."
    )
    assert "credential_process" in msgs["cp"] and "sentinel exec --server" in msgs["cp"]
    assert "no session table" in msgs["no_session_table"]
    assert "--no-session-tracking is not allowed" in msgs["tracking_disabled"]
    assert msgs["tracking_disabled"].endswith("Run: sentinel exec --server --profile prod -- ...")
    assert "configured table 't1'" in msgs["untrusted_session_table"]
    assert msgs["untrusted_session_table"].endswith(
        "Run: sentinel exec --server --profile prod -- ..."
    )
    deny = load_policy_text(one_rule("deny"), "p.yaml")
    assert "denies profile 'prod'" in denial_message(evaluate(deny, req("prod")), req("prod"))
    nomatch = denial_message(evaluate(deny, req("dev")), req("dev"))
    assert "no policy rule matches profile 'dev'" in nomatch


def test_fix_keeps_table_from_config_implicit() -> None:
    pol = load_policy_text(one_rule("require_server_session"), "p.yaml")
    r = req("prod", mode=C, table="cfg-table", source="sentinel.yaml:2")
    assert fix_command(evaluate(pol, r), r) == "sentinel exec --server --profile prod -- ..."
    r = req("prod", mode=C, table="my table", source="--session-table")
    assert fix_command(evaluate(pol, r), r) is None  # only the config's table would count
    allow = load_policy_text(one_rule("require_server"), "p.yaml")
    assert fix_command(evaluate(allow, r), r) == (
        "sentinel exec --server --session-table 'my table' --profile prod -- ..."
    )


def test_require_server_fix_and_generated_reason() -> None:
    pol = load_policy_text(one_rule("require_server"), "p.yaml")
    r = req("prod", mode=C)
    d = evaluate(pol, r)
    assert fix_command(d, r) == "sentinel exec --server --profile prod -- ..."
    assert d.reason == "rule r requires server mode for profile prod"


def test_required_for_profile_ignores_other_conditions() -> None:
    pol = load_policy_text(BASIC, "p.yaml")
    rule = required_for_profile(pol, "prod")
    assert rule is not None and rule.name == "blocked"  # user condition ignored
    assert required_for_profile(pol, "nothing") is None
    rule = required_for_profile(pol, "audit")
    assert rule is not None and rule.name == "audit-team"


def window_policy(days: str | None, start: str | None, end: str | None, tz: str | None) -> str:
    lines = ["policies:", "  - name: w", "    match:", "      time:"]
    if days:
        lines.append(f"        days: {days}")
    if start:
        lines.append(f'        hours: {{start: "{start}", end: "{end}"}}')
    if tz:
        lines.append(f"        timezone: {tz}")
    lines.append("    effect: allow")
    return "\n".join(lines) + "\n"


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


B, NY = "Europe/Berlin", "America/New_York"
# days, start, end, timezone, at (UTC), matches
WINDOWS = [
    # plain window, UTC by default; start inclusive, end exclusive
    (None, "09:00", "18:00", None, datetime(2026, 1, 26, 9, 0, tzinfo=UTC), True),
    (None, "09:00", "18:00", None, datetime(2026, 1, 26, 8, 59, tzinfo=UTC), False),
    (None, "09:00", "18:00", None, datetime(2026, 1, 26, 17, 59, tzinfo=UTC), True),
    (None, "09:00", "18:00", None, datetime(2026, 1, 26, 18, 0, tzinfo=UTC), False),
    # across midnight
    (None, "22:00", "06:00", None, datetime(2026, 1, 26, 23, 30, tzinfo=UTC), True),
    (None, "22:00", "06:00", None, datetime(2026, 1, 27, 5, 59, tzinfo=UTC), True),
    (None, "22:00", "06:00", None, datetime(2026, 1, 27, 6, 0, tzinfo=UTC), False),
    (None, "22:00", "06:00", None, datetime(2026, 1, 26, 21, 59, tzinfo=UTC), False),
    (None, "22:00", "06:00", None, datetime(2026, 1, 26, 0, 0, tzinfo=UTC), True),
    (None, "00:00", "24:00", None, datetime(2026, 1, 26, 23, 59, tzinfo=UTC), True),
    # a wrapped window's early hours belong to the day it started (Friday night → Saturday)
    ("[friday]", "22:00", "06:00", None, datetime(2026, 1, 31, 3, 0, tzinfo=UTC), True),
    ("[friday]", "22:00", "06:00", None, datetime(2026, 1, 30, 3, 0, tzinfo=UTC), False),
    ("[friday]", "22:00", "06:00", None, datetime(2026, 1, 30, 23, 0, tzinfo=UTC), True),
    # days only, and day boundaries in the rule's zone
    ("[mon, tue, wed, thu, fri]", None, None, None, datetime(2026, 1, 31, 12, tzinfo=UTC), False),
    ("[monday]", None, None, None, datetime(2026, 1, 26, 0, 0, tzinfo=UTC), True),
    ("[monday]", None, None, None, datetime(2026, 1, 25, 23, 59, tzinfo=UTC), False),
    # 23:30 UTC Sunday is already Monday 00:30 in Berlin
    ("[monday]", None, None, B, datetime(2026, 1, 25, 23, 30, tzinfo=UTC), True),
    ("[sunday]", None, None, NY, datetime(2026, 1, 26, 3, 0, tzinfo=UTC), True),
    # time zones: 09:00–18:00 Berlin is 08:00–17:00 UTC in winter
    (None, "09:00", "18:00", B, datetime(2026, 1, 26, 8, 0, tzinfo=UTC), True),
    (None, "09:00", "18:00", B, datetime(2026, 1, 26, 17, 0, tzinfo=UTC), False),
    # ... and 07:00–16:00 UTC in summer
    (None, "09:00", "18:00", B, datetime(2026, 7, 6, 7, 0, tzinfo=UTC), True),
    (None, "09:00", "18:00", B, datetime(2026, 7, 6, 16, 0, tzinfo=UTC), False),
    # DST start in Berlin, 2026-03-29: 02:00 jumps to 03:00; 01:59 UTC+1 → 03:00 UTC+2 → 03:00
    (None, "03:00", "04:00", B, local(B, 2026, 3, 29, 3, 0), True),
    (None, "03:00", "04:00", B, datetime(2026, 3, 29, 1, 0, tzinfo=UTC), True),
    (None, "03:00", "04:00", B, datetime(2026, 3, 29, 0, 59, tzinfo=UTC), False),
    # DST end in Berlin, 2026-10-25: 02:00–03:00 happens twice; both count
    (None, "02:00", "03:00", B, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), True),
    (None, "02:00", "03:00", B, datetime(2026, 10, 25, 1, 30, tzinfo=UTC), True),
    (None, "02:00", "03:00", B, datetime(2026, 10, 25, 2, 0, tzinfo=UTC), False),
    # New York DST start 2026-03-08 (07:00 UTC) and end 2026-11-01 (06:00 UTC)
    (None, "09:00", "17:00", NY, datetime(2026, 3, 8, 13, 0, tzinfo=UTC), True),  # 09:00 EDT
    (None, "09:00", "17:00", NY, datetime(2026, 3, 7, 13, 0, tzinfo=UTC), False),  # 08:00 EST
    (None, "09:00", "17:00", NY, datetime(2026, 11, 1, 14, 0, tzinfo=UTC), True),  # 09:00 EST
    (None, "09:00", "17:00", NY, datetime(2026, 10, 31, 13, 0, tzinfo=UTC), True),  # 09:00 EDT
    (None, "09:00", "17:00", NY, datetime(2026, 11, 1, 13, 0, tzinfo=UTC), False),  # 08:00 EST
    # night window across the Berlin DST change night
    ("[saturday]", "22:00", "06:00", B, datetime(2026, 3, 29, 3, 59, tzinfo=UTC), True),
    ("[saturday]", "22:00", "06:00", B, datetime(2026, 3, 29, 4, 0, tzinfo=UTC), False),
]


@pytest.mark.parametrize(("days", "start", "end", "tz", "at", "matches"), WINDOWS)
def test_time_windows(
    days: str | None,
    start: str | None,
    end: str | None,
    tz: str | None,
    at: datetime,
    matches: bool,
) -> None:
    pol = load_policy_text(window_policy(days, start, end, tz), "w.yaml")
    d = evaluate(pol, req("any", at=at))
    assert d.allowed is matches, d.skipped


def test_time_reason_names_local_time_and_window() -> None:
    pol = load_policy_text(window_policy(None, "09:00", "18:00", B), "w.yaml")
    d = evaluate(pol, req("x", at=datetime(2026, 1, 26, 22, 10, tzinfo=UTC)))
    assert d.skipped[0][2] == "time Mon 23:10 Europe/Berlin is outside 09:00–18:00"
    pol = load_policy_text(window_policy("[mon, tue]", None, None, None), "w.yaml")
    d = evaluate(pol, req("x", at=datetime(2026, 1, 31, 12, tzinfo=UTC)))
    assert d.skipped[0][2] == "day saturday (Sat 12:00 UTC) is not one of monday, tuesday"


def test_evaluate_accepts_any_aware_datetime_and_refuses_naive() -> None:
    pol = load_policy_text(window_policy(None, "09:00", "18:00", B), "w.yaml")
    at = datetime(2026, 1, 26, 9, 30, tzinfo=ZoneInfo(B))
    assert evaluate(pol, req("x", at=at)).allowed
    with pytest.raises(ValueError):
        evaluate(pol, req("x", at=datetime(2026, 1, 26, 9, 30)))
