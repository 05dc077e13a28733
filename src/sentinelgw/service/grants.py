"""What access requests and break-glass grants share: ending one, revoking its sessions, and
announcing it.

Both are items of :mod:`sentinelgw.service.requests` (``kind`` ``request`` or ``breakglass``).
Ending one writes the decision on it (who, their ARN, when, the comment), revokes the sessions
started under it (hard, where the service has hard revocation), announces it through
:mod:`sentinelgw.service.notify` (urgent for a break-glass grant) and writes a service-log line
when no API call logs the decision itself (the sweep's expiries).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.errors import SentinelError, SessionNotFound
from sentinelgw.policy import Mode, Request
from sentinelgw.service.caller import Caller
from sentinelgw.service.document import ServiceDocument, Target
from sentinelgw.service.notify import Notice
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.requests import AccessRequest, RequestDecision
from sentinelgw.timeutil import format_duration, iso

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService

SERVICE_ACTOR = "sentinel-service"
BREAKGLASS = "breakglass"
_ACTIONS = {"cancelled": "cancel", "denied": "deny", "expired": "expire"}


def what(grant: AccessRequest) -> str:
    """``access request`` or ``break-glass grant``, for messages."""
    return "break-glass grant" if grant.kind == BREAKGLASS else "access request"


def end_reason(grant: AccessRequest, status: str, by: str, comment: str) -> str:
    if grant.kind == BREAKGLASS:
        reason = {
            "cancelled": f"closed by {by}",
            "denied": f"closed by {by}",
            "expired": "the break-glass grant ran out",
        }[status]
    else:
        reason = {
            "cancelled": f"cancelled by {by}",
            "denied": f"denied by {by}",
            "expired": "the approval ended"
            if grant.status == "approved"
            else "no decision before it expired",
        }[status]
    if comment and status != "expired":
        reason += f": {comment}"
    return reason[:600]


def close_grant(
    service: SentinelService,
    doc: ServiceDocument,
    grant: AccessRequest,
    status: str,
    caller: Caller | None,
    comment: str,
    now: datetime,
    note: dict[str, Any],
) -> AccessRequest:
    """Write ``status`` (cancelled, denied or expired) on ``grant`` if it did not change
    meanwhile (else :class:`Refusal` 409), revoke its sessions, announce it, log it."""
    action = _ACTIONS[status]
    if grant.kind == BREAKGLASS and status != "expired":
        action = "close"
    by = caller.user if caller else SERVICE_ACTOR
    decision = RequestDecision(
        action=action,
        by=by,
        by_arn=caller.arn if caller else SERVICE_ACTOR,
        at=now,
        comment=comment,
    )
    reason = end_reason(grant, status, by, comment)
    updated = service.requests.table.replace(
        grant,
        replace(
            grant,
            status=status,
            decisions=(*grant.decisions, decision),
            end_reason=reason,
            ends_at=min(grant.ends_at, now) if grant.ends_at else None,
        ),
    )
    note["message"] = reason
    revoked = revoke_sessions(service, updated, now, reason)
    if revoked:
        note["message"] = f"{reason}; revoked {revoked} session(s)"
    title = f"{what(grant)} {grant.id} of {grant.requester} for {grant.profile} " + (
        "closed" if action == "close" else status
    )
    notify_grant(service, doc, action, updated, title, comment=comment)
    if not note.get("event"):  # not an API call's own decision: a line of its own
        prefix = "breakglass" if grant.kind == BREAKGLASS else "request"
        entry = {
            "event": f"{prefix}_{action}",
            "user": by,
            "profile": grant.profile,
            "decision": action,
            "message": note.get("message") or reason,
        }
        entry["breakglass" if grant.kind == BREAKGLASS else "access_request"] = grant.id
        service.log_event(entry)
    return updated


def revoke_sessions(
    service: SentinelService, grant: AccessRequest, now: datetime, reason: str
) -> int:
    """Revoke every session started under ``grant``; returns how many were still active."""
    count = 0
    for session_id in grant.sessions:
        try:
            revoked = service.table.store.revoke(
                session_id, SERVICE_ACTOR, f"{what(grant)} {grant.id}: {reason}", now
            )
        except SessionNotFound:
            continue  # already ended
        except SentinelError:
            continue  # the record then ends by time (its end is capped at the grant's)
        service.forget(session_id)
        count += 1
        if service.hard_revoke is not None:
            try:
                service.hard_revoke(revoked, now)
            except Exception:  # noqa: S110 - the session is revoked in the table already
                pass
    return count


def notify_grant(
    service: SentinelService,
    doc: ServiceDocument,
    event: str,
    grant: AccessRequest,
    title: str,
    *,
    comment: str = "",
) -> None:
    """Announce ``grant``; a break-glass grant's notices are urgent, whatever happened."""
    notifier = service.notifier
    if notifier is None:
        return
    glass = grant.kind == BREAKGLASS
    lines = [
        ("break-glass" if glass else "request", grant.id),
        ("user" if glass else "requester", grant.requester),
        ("profile", grant.profile),
        ("status", grant.status),
        ("duration", format_duration(grant.duration)),
    ]
    if glass:
        lines.append(("reason code", grant.reason_code or ""))
    lines.append(("justification", grant.justification))
    if comment:
        lines.append(("comment", comment))
    if grant.ends_at and grant.status == "approved":
        lines.append(("usable until", iso(grant.ends_at) or ""))
    fields = {
        "request_id": grant.id,
        "requester": grant.requester,
        "profile": grant.profile,
        "status": grant.status,
        "kind": grant.kind,
    }
    if glass:
        fields["breakglass_id"] = grant.id
        fields["reason_code"] = grant.reason_code or ""
    notifier.send(
        doc.notifications,
        Notice(
            event=f"break_glass_{event}" if glass else event,
            title=("BREAK-GLASS: " if glass else "") + title,
            lines=tuple(lines),
            urgent=glass,
            fields=fields,
        ),
    )


def attach_session(
    service: SentinelService, grant: AccessRequest, session_id: str, user: str
) -> None:
    """Add ``session_id`` to ``grant``'s sessions (retried on a concurrent change; best
    effort: the session record carries the grant's id whatever happens here) and announce it."""
    table = service.requests.table
    for _ in range(3):
        current = table.get(grant.id) or grant
        try:
            table.replace(current, replace(current, sessions=(*current.sessions, session_id)))
            break
        except Refusal as exc:
            if exc.code != "RequestChanged":
                break
    try:
        doc = service.document()
    except Refusal:
        return
    title = f"{user} started session {session_id} on {grant.profile} under {what(grant)} {grant.id}"
    notify_grant(service, doc, "session_start", grant, title)


def sweep_grants(service: SentinelService, now: datetime) -> list[str]:
    """Expire requests and grants past their time (revoking their sessions) and cancel
    blocked requesters' pending requests. Returns the ids it changed."""
    doc = service.document()
    changed = []
    for grant in service.requests.table.open(now):
        stored, state = grant.status, grant.effective_status(now)
        try:
            if stored in ("pending", "approved") and state == "expired":
                close_grant(service, doc, grant, "expired", None, "", now, {})
                changed.append(grant.id)
            elif stored == "pending" and service.table.block(grant.requester, now):
                why = "the requester is blocked"
                close_grant(service, doc, grant, "cancelled", None, why, now, {})
                changed.append(grant.id)
        except Refusal:
            continue  # changed meanwhile; the next sweep sees it
    return changed


def policy_request(
    service: SentinelService, caller: Caller, target: Target, now: datetime
) -> Request:
    """The policy request the service evaluates for ``caller`` on ``target`` (server mode)."""
    return Request(
        profile=target.profile,
        user=caller.user,
        mode=Mode.SERVER,
        at=now,
        session_table=service.table.table,
        session_table_source="the service",
        role_arn=target.role_arn,
        via_service=True,
    )
