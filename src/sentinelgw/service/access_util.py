"""Small parts of access requests: the sweeper thread, the approval rule of a target, input
checks (justification, comment), and the block check every grant shares."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.policy import Mode, Request
from sentinelgw.policy.evaluate import mismatch
from sentinelgw.service.approvals import ApprovalRule
from sentinelgw.service.caller import Caller
from sentinelgw.service.document import ServiceDocument, Target
from sentinelgw.service.grants import SERVICE_ACTOR
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.requests import (
    MAX_COMMENT,
    MAX_JUSTIFICATION,
    MIN_JUSTIFICATION,
    AccessRequest,
    RequestDecision,
)

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService


def approval_rule(
    doc: ServiceDocument, target: Target, requester: str, now: datetime
) -> ApprovalRule | None:
    """The first approval rule whose match (profile, role_arn) covers ``target``."""
    request = Request(
        profile=target.profile, user=requester, mode=Mode.SERVER, at=now, role_arn=target.role_arn
    )
    for rule in doc.approvals.rules:
        if mismatch(rule.match, request) is None:
            return rule
    return None


def refuse_if_blocked(service: SentinelService, caller: Caller, now: datetime) -> None:
    for human in caller.humans:
        block = service.table.block(human, now)
        if block is not None:
            raise Refusal(403, "UserBlocked", block.describe())


def auto_approved(request: AccessRequest, rule: str, now: datetime) -> AccessRequest:
    return replace(
        request,
        status="approved",
        approved_at=now,
        ends_at=now + request.duration,
        decisions=(
            RequestDecision(
                action="auto-approve",
                by=SERVICE_ACTOR,
                by_arn=SERVICE_ACTOR,
                at=now,
                comment=f"auto-approved by approval rule {rule}",
            ),
        ),
    )


def justification(raw: Any, low: int = MIN_JUSTIFICATION, high: int = MAX_JUSTIFICATION) -> str:
    if not isinstance(raw, str) or not low <= len(raw.strip()) <= high:
        raise Refusal(
            400, "BadJustification", f"the justification must be {low} to {high} characters"
        )
    return raw.strip()


def comment_of(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > MAX_COMMENT:
        raise Refusal(400, "BadComment", f"a comment is text of at most {MAX_COMMENT} characters")
    return raw.strip()
