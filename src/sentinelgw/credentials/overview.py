"""What ``sentinel list`` shows: each AWS profile, its kind, the policy's answer in each
mode, and whether the credentials cache holds valid credentials for it.

Nothing here calls AWS: the user is the one given (or unknown, so rules that name users do
not match), and the cache is read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sentinelgw.credentials import cache
from sentinelgw.credentials.profiles import all_profiles
from sentinelgw.policy import Decision, Mode, Policy, Request, evaluate
from sentinelgw.session_table import resolve_session_table

if TYPE_CHECKING:
    from sentinelgw.context import Context


@dataclass(frozen=True)
class ProfileOverview:
    name: str
    kind: str
    decisions: tuple[tuple[Mode, Decision], ...]
    cached: bool


def overview(
    ctx: Context, policy: Policy | None, user: str | None, now: datetime
) -> list[ProfileOverview]:
    """Every profile; with no policy (``None``) the decisions are empty."""
    region = ctx.region()[0]
    out = []
    for profile in all_profiles():
        decisions = () if policy is None else _decisions(ctx, policy, profile.name, user, now)
        key = cache.cache_key(ctx.env, profile.name, ctx.aws_profile, region)
        cached = cache.load(ctx.env, key, now) is not None
        out.append(ProfileOverview(profile.name, profile.kind, decisions, cached))
    return out


def _decisions(
    ctx: Context, policy: Policy, profile: str, user: str | None, now: datetime
) -> tuple[tuple[Mode, Decision], ...]:
    decisions = []
    for mode in Mode:
        table, source = resolve_session_table(
            None, ctx.env, ctx.config(), server_mode=mode is Mode.SERVER
        )
        request = Request(
            profile=profile,
            user=user,
            mode=mode,
            at=now,
            session_table=table,
            session_table_source=source,
        )
        decisions.append((mode, evaluate(policy, request)))
    return tuple(decisions)


def decision_text(decision: Decision) -> str:
    """``allow``/``deny`` and the deciding rule, numbered as ``policy validate`` and
    ``policy explain`` number it (from 1)."""
    verdict = "allow" if decision.allowed else "deny"
    if decision.rule is None:
        return f"{verdict} (no rule)"
    return f"{verdict} #{decision.rule.index + 1} {decision.rule.name}"


def decision_cell(decision: Decision) -> str:
    """``allow #2`` / ``deny #1`` / ``deny`` (no rule): a table cell; the rule names go in a
    legend (:func:`rule_legend`), so five modes fit in 80 columns."""
    verdict = "allow" if decision.allowed else "deny"
    return verdict if decision.rule is None else f"{verdict} #{decision.rule.index + 1}"


def rule_legend(rows: list[ProfileOverview]) -> str:
    """``rules: #1 prod-tracked, #2 dev-open; deny alone: no rule matched``."""
    rules = {d.rule.index: d.rule.name for r in rows for _, d in r.decisions if d.rule}
    named = ", ".join(f"#{i + 1} {name}" for i, name in sorted(rules.items()))
    return f"rules: {named or 'none matched'}; deny alone: no rule matched"
