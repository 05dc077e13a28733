"""Pure policy evaluation: a request and a policy in, a decision out.

No I/O and no clock: the request carries the time, and time zones were resolved by the loader.
That keeps every rule table-testable and lets ``policy explain`` show exactly what the gate
decides.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from fnmatch import fnmatchcase

from sentinelgw.policy.model import (
    DAY_NAMES,
    Decision,
    Effect,
    Mode,
    Policy,
    Request,
    Rule,
    TimeWindow,
    hhmm,
)
from sentinelgw.session_table import ENV_VAR, FLAG_SOURCE


def evaluate(policy: Policy, request: Request) -> Decision:
    """Decide ``request``: the first rule whose conditions all hold decides; none means deny."""
    if request.at.tzinfo is None or request.at.utcoffset() is None:
        raise ValueError("Request.at must be a timezone-aware datetime")
    skipped: list[tuple[int, str | None, str]] = []
    for rule in policy.rules:
        why = mismatch(rule, request)
        if why is not None:
            skipped.append((rule.index, rule.name, why))
            continue
        return _decide(rule, request, tuple(skipped))
    return Decision(
        allowed=False,
        effect=None,
        rule=None,
        rule_index=None,
        reason=f"no rule matches profile '{request.profile}' "
        f"({len(policy.rules)} checked); the default is deny",
        requires_server=False,
        requires_session_tracking=False,
        session_table=request.session_table,
        session_table_source=request.session_table_source,
        tracking=False,
        denial="no_match",
        max_server_duration=None,
        skipped=tuple(skipped),
    )


def profile_matches(rule: Rule, profile: str) -> bool:
    return rule.profiles is None or any(fnmatchcase(profile, p) for p in rule.profiles)


def required_for_profile(policy: Policy, profile: str) -> Rule | None:
    """The first rule whose profile condition matches, ignoring user, mode and time.

    The compliance report uses it to say what the policy requires for a profile in general.
    """
    for rule in policy.rules:
        if profile_matches(rule, profile):
            return rule
    return None


def mismatch(rule: Rule, request: Request) -> str | None:
    """Why ``rule`` does not apply to ``request``, or None if every condition holds."""
    if not profile_matches(rule, request.profile):
        assert rule.profiles is not None
        return f"profile {request.profile} does not match {_alternatives(rule.profiles)}"
    if rule.users is not None:
        if request.user is None:
            return (
                f"user is unknown (no --user given) and the rule needs {_alternatives(rule.users)}"
            )
        if not any(fnmatchcase(request.user, u) for u in rule.users):
            return f"user {request.user} does not match {_alternatives(rule.users)}"
    if rule.role_arns is not None:
        if request.role_arn is None:
            return f"role ARN is unknown and the rule needs {_alternatives(rule.role_arns)}"
        if not any(fnmatchcase(request.role_arn, r) for r in rule.role_arns):
            return f"role ARN {request.role_arn} does not match {_alternatives(rule.role_arns)}"
    if rule.modes is not None and Mode(request.mode) not in rule.modes:
        return f"mode {Mode(request.mode).value} is not {_alternatives(rule.modes)}"
    if rule.time is not None:
        return time_mismatch(rule.time, request.at)
    return None


def time_mismatch(window: TimeWindow, at: datetime) -> str | None:
    """Why ``at`` falls outside ``window`` (wall-clock time in the window's zone), or None."""
    local = at.astimezone(window.zone)
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    stamp = f"{local:%a %H:%M} {window.timezone}"
    if window.start is not None and window.end is not None:
        if window.wraps:
            inside = minute >= window.start or minute < window.end
            if minute < window.end:
                day = (day - 1) % 7  # the early-morning part belongs to the previous day's window
        else:
            inside = window.start <= minute < window.end
        if not inside:
            return f"time {stamp} is outside {hhmm(window.start)}–{hhmm(window.end)}"
    if window.days is not None and day not in window.days:
        if window.wraps and day != local.weekday():
            return (
                f"time {stamp} belongs to the {DAY_NAMES[day]} window, and {DAY_NAMES[day]} "
                f"is not one of {window.days_text()}"
            )
        return f"day {DAY_NAMES[day]} ({stamp}) is not one of {window.days_text()}"
    return None


def _alternatives(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else "any of " + ", ".join(values)


def _decide(
    rule: Rule, request: Request, skipped: tuple[tuple[int, str | None, str], ...]
) -> Decision:
    if rule.session_table:
        table: str | None = rule.session_table
        table_source: str | None = f"policy rule {rule.name} ({rule.where})"
    else:
        table, table_source = request.session_table, request.session_table_source
    server = Mode(request.mode) is Mode.SERVER or request.via_service
    tracking_possible = server and table is not None and not request.no_session_tracking
    requires_approval = rule.effect is Effect.REQUIRE_APPROVAL
    requires_server = rule.effect in (
        Effect.REQUIRE_SERVER,
        Effect.REQUIRE_SERVER_SESSION,
        Effect.REQUIRE_APPROVAL,
    )
    requires_tracking = rule.effect in (Effect.REQUIRE_SERVER_SESSION, Effect.REQUIRE_APPROVAL)

    denial: str | None = None
    if rule.effect is Effect.DENY:
        denial = "deny"
    elif requires_approval and not request.approved_request:
        denial = "no_approval"
    elif requires_server and not server:
        denial = "not_server"
    elif requires_tracking and table is None:
        denial = "no_session_table"
    elif requires_tracking and request.no_session_tracking:
        denial = "tracking_disabled"
    elif requires_tracking and not rule.session_table and _named_by_requester(request, table):
        denial = "untrusted_session_table"
    allowed = denial is None
    return Decision(
        allowed=allowed,
        effect=rule.effect,
        rule=rule,
        rule_index=rule.index,
        reason=rule.reason or _generated_reason(rule, request),
        requires_server=requires_server,
        requires_session_tracking=requires_tracking,
        session_table=table,
        session_table_source=table_source,
        tracking=allowed and tracking_possible,
        denial=denial,
        max_server_duration=rule.max_server_duration,
        skipped=skipped,
        requires_approval=requires_approval,
        approved_request=request.approved_request if requires_approval else None,
    )


def _named_by_requester(request: Request, table: str | None) -> bool:
    """True when ``table`` came from ``--session-table`` or the environment, not the config.

    A ``require_server_session`` rule without its own ``session_table`` accepts only the
    config's ``defaults.session_table``: a table the requester names could be a decoy they
    created, whose records no security team reads.
    """
    source = request.session_table_source
    named = source == FLAG_SOURCE or (source or "").startswith("env ")
    return named and table != request.config_session_table


def _generated_reason(rule: Rule, request: Request) -> str:
    what = {
        Effect.ALLOW: "allows",
        Effect.DENY: "denies",
        Effect.REQUIRE_SERVER: "requires server mode for",
        Effect.REQUIRE_SERVER_SESSION: "requires server mode with session tracking for",
        Effect.REQUIRE_APPROVAL: "requires an approved access request and a tracked session for",
    }[rule.effect]
    return f"rule {rule.name} {what} profile {request.profile}"


def fix_command(decision: Decision, request: Request) -> str | None:
    """The exact ``sentinel`` command that the policy would allow, or None if none would.

    Only ``require_server`` / ``require_server_session`` denials can be fixed by the caller;
    a ``deny`` rule or no matching rule cannot. A ``require_server_session`` rule without its
    own ``session_table`` accepts only the config's table, which applies again without any
    flag (and without ``SENTINEL_SESSION_TABLE``); with no config table nothing the caller can
    type fixes it. Otherwise ``--session-table`` is added when the table came from that flag
    or from the rule (naming it is harmless and says which table tracks the session).
    """
    if decision.denial == "no_approval":
        return approval_command(request.profile)
    if decision.allowed or decision.denial not in (
        "not_server",
        "no_session_table",
        "tracking_disabled",
        "untrusted_session_table",
    ):
        return None
    parts = ["sentinel", "exec", "--server"]
    table = decision.session_table
    if decision.requires_session_tracking and not _table_from_rule(decision):
        # Only the config's table counts: without one, nothing the caller types fixes it.
        if request.config_session_table is None:
            return None
        if (decision.session_table_source or "").startswith("env ") and (
            table != request.config_session_table
        ):
            parts = ["env", "-u", ENV_VAR, *parts]
    elif table is not None and (
        decision.session_table_source == FLAG_SOURCE or _table_from_rule(decision)
    ):
        parts += ["--session-table", table]
    if request.no_session_tracking and not decision.requires_session_tracking:
        parts.append("--no-session-tracking")
    parts += ["--profile", request.profile]
    return " ".join(shlex.quote(p) for p in parts) + " -- ..."


_SET_TABLE = (
    "set defaults.session_table in the Sentinel config (or session_table on the policy rule)"
)


def _no_table(decision: Decision, request: Request) -> bool:
    """No session table the policy would accept: none in the config, none on the rule."""
    rule = decision.rule
    return request.config_session_table is None and not (rule and rule.session_table)


def _set_table_then(request: Request) -> str:
    """The fix when no session table is configured anywhere: set one, then run in server mode."""
    profile = shlex.quote(request.profile)
    return f"{_SET_TABLE}, then run: sentinel exec --server --profile {profile} -- ..."


def approval_command(profile: str) -> str:
    """The command that asks for access to a ``require_approval`` profile."""
    return f'sentinel request --profile {shlex.quote(profile)} --justification "…"'


def _table_from_rule(decision: Decision) -> bool:
    rule = decision.rule
    return (
        rule is not None
        and bool(rule.session_table)
        and (decision.session_table == rule.session_table)
    )


def explain_command(request: Request) -> str:
    """The ``sentinel policy explain`` command that reproduces ``request``."""
    parts = [
        "sentinel",
        "policy",
        "explain",
        "--profile",
        request.profile,
        "--mode",
        Mode(request.mode).value,
    ]
    if request.user:
        parts += ["--user", request.user]
    if request.no_session_tracking:
        parts.append("--no-session-tracking")
    return " ".join(shlex.quote(p) for p in parts)


def denial_message(decision: Decision, request: Request) -> str:
    """One line explaining a denial and naming the fix; distinct for each kind of denial."""
    profile = f"'{request.profile}'"
    fix = fix_command(decision, request)
    run = f" Run: {fix}" if fix else ""
    rule = decision.rule
    if decision.allowed:
        return f"allowed by policy rule {rule.label() if rule else '?'}"
    if rule is None:
        who = f" for user '{request.user}'" if request.user else ""
        return (
            f"no policy rule matches profile {profile}{who} in mode "
            f"{Mode(request.mode).value}, so it is denied by default. See why with: "
            f"{explain_command(request)}"
        )
    because = f" ({rule.reason})" if rule.reason else ""
    label = f"policy rule {rule.label()}"
    tracked = " with session tracking" if decision.requires_session_tracking else ""
    if decision.denial == "deny":
        return f"{label} denies profile {profile}{because}"
    if decision.denial == "no_approval":
        return (
            f"{label} requires an approved access request for profile {profile}{because}, and "
            f"you have none that covers it now (approvals are kept by the credential "
            f"service).{run}"
        )
    if decision.denial == "not_server":
        if Mode(request.mode) is Mode.CONSOLE:
            return (
                f"{label} requires server mode{tracked} for profile {profile}, and a "
                "console sign-in cannot be tracked or served that way"
            )
        if Mode(request.mode) is Mode.CREDENTIAL_PROCESS:
            return (
                f"{label} requires server mode{tracked} for profile {profile}, and "
                f"credential_process credentials cannot be tracked or served that way. "
                f"Use sentinel exec --server instead.{run}"
            )
        if decision.requires_session_tracking and not fix and _no_table(decision, request):
            return (
                f"{label} requires server mode{tracked} for profile {profile}{because}, and no "
                f"session table is configured: {_set_table_then(request)}"
            )
        return f"{label} requires server mode{tracked} for profile {profile}{because}.{run}"
    if decision.denial == "no_session_table":
        return (
            f"{label} requires session tracking for profile {profile}, but no session table "
            f"is configured: {_set_table_then(request) if not fix else _SET_TABLE + '.' + run}"
        )
    if decision.denial == "untrusted_session_table":
        expected = request.config_session_table
        want = (
            f"the configured table '{expected}' (defaults.session_table)"
            if expected
            else "the table the Sentinel config names (defaults.session_table), and it names none"
        )
        return (
            f"{label} requires session tracking for profile {profile} in {want}; the "
            f"table '{decision.session_table}' from {decision.session_table_source} does "
            f"not count for it.{run}"
        )
    if decision.denial == "tracking_disabled":
        return (
            f"{label} requires session tracking for profile {profile}, so "
            f"--no-session-tracking is not allowed.{run}"
        )
    return f"{label} denies profile {profile}"
