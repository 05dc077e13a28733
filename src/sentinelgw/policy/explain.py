"""Explanations of a decision as plain data, for ``policy explain`` and the decision log."""

from __future__ import annotations

from typing import Any

from sentinelgw.policy.evaluate import denial_message, fix_command
from sentinelgw.policy.model import Decision, Mode, Request
from sentinelgw.timeutil import format_duration, iso


def explain_data(decision: Decision, request: Request) -> dict[str, Any]:
    """A JSON-ready description of ``decision``; ``effect`` is the resolved allow/deny."""
    rule = decision.rule
    msd = decision.max_server_duration
    return {
        "effect": "allow" if decision.allowed else "deny",
        "rule": rule.name if rule else None,
        "rule_index": decision.rule_index,
        "rule_effect": decision.effect.value if decision.effect else None,
        "rule_where": rule.where if rule else None,
        "reason": decision.reason,
        "requires_server": decision.requires_server,
        "requires_session_tracking": decision.requires_session_tracking,
        "session_table": decision.session_table,
        "session_table_source": decision.session_table_source,
        "tracking": decision.tracking,
        "requires_approval": decision.requires_approval,
        "approved_request": decision.approved_request,
        "denial": decision.denial,
        "message": None if decision.allowed else denial_message(decision, request),
        "fix": fix_command(decision, request),
        "max_server_duration": format_duration(msd) if msd is not None else None,
        "skipped": [{"index": i, "rule": name, "why": why} for i, name, why in decision.skipped],
        "mode": Mode(request.mode).value,
        "profile": request.profile,
        "user": request.user,
        "role_arn": request.role_arn,
        "at": iso(request.at),
        "no_session_tracking": request.no_session_tracking,
    }
