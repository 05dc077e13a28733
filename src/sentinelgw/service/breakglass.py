"""Break-glass at the credential service: emergency access without approval, always loud.

A grant is an item of :mod:`sentinelgw.service.requests` with ``kind = breakglass``: opened
``approved`` at once, by the user the document's ``breakglass:`` section allows on that
profile (:mod:`sentinelgw.service.breakglass_rules`), for at most 4 hours. While it is open,
the user's sessions on the profile start and get credentials as under an approved request
(:meth:`SentinelService._decide` finds it through ``covering``), and each session record
carries the grant's id (``breakglass_id``). Closing it, or its end (the sweep), revokes those
sessions, hard where the service has hard revocation.

Loud: opening, each session started under it, closing and expiry are announced through the
service's notifier marked urgent; every call under it (each credential request of its
sessions) writes a service-log line naming it (``breakglass``).

Rate limits, kept in the table (so every instance of the service sees them): at most
``per_user`` grants per user in ``window``, and ``cooldown`` between two; a refusal names the
time the next one is possible.

MFA (``require_mfa: true``): verified, not taken on trust. The open call carries, next to the
caller's proof, an MFA proof signed with a session of the document's ``mfa_role``, a role whose
trust policy IAM lets nobody assume without MFA and under another session name than their own
user name; the service confirms that trust policy itself with ``iam:GetRole``
(:mod:`sentinelgw.service.mfa_role`). The grant records how MFA was met (``mfa: role <name>``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sentinelgw.policy import evaluate
from sentinelgw.service.access_util import comment_of, justification, refuse_if_blocked
from sentinelgw.service.breakglass_rules import (
    MAX_JUSTIFICATION,
    MIN_JUSTIFICATION,
    REASON_CODES,
    BreakGlassPolicy,
)
from sentinelgw.service.caller import Caller
from sentinelgw.service.checks import _check_caller_kind, _required, _service_denial, _target
from sentinelgw.service.document import ServiceDocument, Target
from sentinelgw.service.grants import BREAKGLASS, close_grant, notify_grant, policy_request
from sentinelgw.service.mfa_role import MfaRoleCheck, mfa_met
from sentinelgw.service.proof import VerifiedCaller
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.requests import AccessRequest, RequestDecision, is_request_id
from sentinelgw.sourceidentity import new_id
from sentinelgw.timeutil import format_duration, iso

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService

STATUSES = ("active", "closed", "expired")


def status_of(grant: AccessRequest, now: datetime) -> str:
    """``active``, ``closed`` or ``expired``, as break-glass users say it."""
    state = grant.effective_status(now)
    return {"approved": "active", "expired": "expired"}.get(state, "closed")


def export(grant: AccessRequest, now: datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "user": grant.requester,
        "user_arn": grant.requester_arn,
        "profile": grant.profile,
        "role_arn": grant.role_arn,
        "status": status_of(grant, now),
        "reason_code": grant.reason_code,
        "justification": grant.justification,
        "duration_seconds": int(grant.duration.total_seconds()),
        "opened_at": iso(grant.created_at),
        "ends_at": iso(grant.ends_at) if grant.ends_at else None,
        "mfa": grant.mfa,
        "sessions": list(grant.sessions),
        "closed_by": next((d.by for d in grant.decisions if d.action == "close"), None),
        "end_reason": grant.end_reason,
        "decisions": [d.to_export() for d in grant.decisions],
    }


class BreakGlass:
    """The break-glass calls of :class:`SentinelService` (``service.breakglass``)."""

    def __init__(self, service: SentinelService) -> None:
        self.service = service

    def open(
        self,
        caller: Caller,
        body: dict[str, Any],
        note: dict[str, Any],
        mfa_proof: VerifiedCaller | None = None,
        mfa_roles: MfaRoleCheck | None = None,
    ) -> dict[str, Any]:
        """Open a grant; ``mfa_proof`` is the verified signer of the body's MFA proof, and
        ``mfa_roles`` reads the MFA role (see :func:`sentinelgw.service.mfa_role.mfa_met`)."""
        s = self.service
        profile = _required(body, "profile")
        note["profile"] = profile
        code = body.get("reason_code")
        if code not in REASON_CODES:
            raise Refusal(
                400, "BadReasonCode", f"reason_code must be one of {', '.join(REASON_CODES)}"
            )
        text = justification(body.get("justification"), MIN_JUSTIFICATION, MAX_JUSTIFICATION)
        doc = s.document()
        policy = doc.breakglass
        target = _target(doc, profile)
        if not policy.allows(caller.user, profile):
            raise Refusal(
                403,
                "BreakGlassNotAllowed",
                f"the service document's breakglass section does not allow {caller.user} on "
                f"profile {profile}; ask for access with: sentinel request --profile {profile}",
            )
        now = s.clock()
        refuse_if_blocked(s, caller, now)
        decision = self._allowed(doc, caller, target, now)
        _check_caller_kind(target, caller, decision)
        cap = min(policy.max_duration, decision.max_server_duration or policy.max_duration)
        duration = _duration(body.get("duration_seconds"), policy, cap, s.min_session)
        mfa = mfa_met(policy, caller, mfa_proof, mfa_roles)  # before the limits: no grant yet
        grants = [g for g in s.requests.table.all() if g.kind == BREAKGLASS]
        _rate_limit(policy, [g for g in grants if g.requester == caller.user], now)
        for old in grants:
            if old.requester_arn == caller.arn and old.profile == profile and old.usable(now):
                raise Refusal(
                    409,
                    "BreakGlassOpen",
                    f"your break-glass grant {old.id} on {profile} is open until "
                    f"{iso(old.ends_at)}; use it, or close it with: sentinel breakglass-close",
                )
        grant = _new_grant(caller, target, text, duration, str(code), now, mfa)
        s.requests.table.create(grant)
        note.update(breakglass=grant.id, decision="breakglass_open")
        note["message"] = f"break-glass on {profile} for {format_duration(duration)} ({code})"
        title = f"{caller.user} opened break-glass on {profile} ({code})"
        notify_grant(s, doc, "open", grant, title)
        return export(grant, now)

    def _allowed(self, doc: ServiceDocument, caller: Caller, target: Target, now: datetime) -> Any:
        """The policy's decision with the grant standing in for an approval: break-glass
        replaces the approver, never a deny of the policy."""
        from dataclasses import replace

        request = policy_request(self.service, caller, target, now)
        decision = evaluate(doc.policy, request)
        if decision.denial == "no_approval":
            request = replace(request, approved_request="break-glass")
            decision = evaluate(doc.policy, request)
        elif decision.allowed:
            raise Refusal(
                409,
                "BreakGlassNotNeeded",
                f"profile {target.profile} is open to you without approval; run: sentinel exec "
                f"--profile {target.profile} -- ...",
            )
        if not decision.allowed:
            raise Refusal(
                403,
                "PolicyDenied",
                "Sentinel policy denied this request: " + _service_denial(decision, request),
            )
        return decision

    def listing(self, caller: Caller, body: dict[str, Any], note: dict[str, Any]) -> dict[str, Any]:
        """The caller's grants; every grant for the document's admins."""
        status = body.get("status")
        if status is not None and status not in STATUSES:
            raise Refusal(400, "BadRequest", f"status must be one of {', '.join(STATUSES)}")
        doc = self.service.document()
        now = self.service.clock()
        admin = any(fnmatchcase(caller.user, a) for a in doc.admins)
        rows = []
        for grant in self.service.requests.table.all():
            if grant.kind != BREAKGLASS or not (admin or self._own(grant, caller)):
                continue
            if status and status_of(grant, now) != status:
                continue
            rows.append(export(grant, now))
        return {"user": caller.user, "grants": rows}

    def show(self, caller: Caller, grant_id: str, note: dict[str, Any]) -> dict[str, Any]:
        note["breakglass"] = grant_id
        doc = self.service.document()
        grant = self._get(grant_id, caller, doc)
        return export(grant, self.service.clock())

    def close(
        self, caller: Caller, grant_id: str, body: dict[str, Any], note: dict[str, Any]
    ) -> dict[str, Any]:
        """Its user or an admin closes a grant: its sessions are revoked."""
        note.update(breakglass=grant_id, decision="breakglass_close")
        reason = comment_of(body.get("reason"))
        if not reason:
            raise Refusal(400, "BadRequest", "a reason is required to close a break-glass grant")
        note["comment"] = reason
        doc = self.service.document()
        now = self.service.clock()
        grant = self._get(grant_id, caller, doc)
        note["profile"] = grant.profile
        if status_of(grant, now) != "active":
            raise Refusal(
                409,
                "BreakGlassNotActive",
                f"break-glass grant {grant_id} is already {status_of(grant, now)}",
            )
        updated = close_grant(self.service, doc, grant, "cancelled", caller, reason, now, note)
        return export(updated, now)

    def _own(self, grant: AccessRequest, caller: Caller) -> bool:
        return grant.requester_arn == caller.arn or grant.requester in caller.humans

    def _get(self, grant_id: str, caller: Caller, doc: ServiceDocument) -> AccessRequest:
        """The grant, if the caller may see it (its user, or an admin); else 404/403."""
        if not is_request_id(grant_id):
            raise Refusal(404, "BreakGlassNotFound", "no such break-glass grant (ids are 16 hex)")
        grant = self.service.requests.table.get(grant_id)
        if grant is None or grant.kind != BREAKGLASS:
            raise Refusal(404, "BreakGlassNotFound", f"no break-glass grant {grant_id}")
        if not (self._own(grant, caller) or any(fnmatchcase(caller.user, a) for a in doc.admins)):
            raise Refusal(
                403,
                "NotAuthorized",
                f"break-glass grant {grant_id} is not yours; only its user or the service "
                "document's admins may see or close it",
            )
        return grant


def _new_grant(
    caller: Caller,
    target: Target,
    text: str,
    duration: timedelta,
    code: str,
    now: datetime,
    mfa: str | None,
) -> AccessRequest:
    return AccessRequest(
        id=new_id(),
        requester=caller.user,
        requester_arn=caller.arn,
        profile=target.profile,
        role_arn=target.role_arn,
        justification=text,
        duration=duration,
        status="approved",
        created_at=now,
        pending_until=now,
        approvals_needed=0,
        approved_at=now,
        ends_at=now + duration,
        decisions=(
            RequestDecision("open", by=caller.user, by_arn=caller.arn, at=now, comment=code),
        ),
        kind=BREAKGLASS,
        reason_code=code,
        mfa=mfa,
    )


def _duration(raw: Any, policy: BreakGlassPolicy, cap: timedelta, low: timedelta) -> timedelta:
    if raw is None:
        return min(policy.default_duration, cap)
    least = int(low.total_seconds())
    if not isinstance(raw, int) or isinstance(raw, bool) or not least <= raw <= 4 * 3600:
        raise Refusal(
            400, "BadRequest", f"duration_seconds must be a whole number from {least} to 14400"
        )
    if timedelta(seconds=raw) > cap:
        raise Refusal(
            400,
            "DurationTooLong",
            f"break-glass on this profile lasts at most {format_duration(cap)}",
        )
    return timedelta(seconds=raw)


def _rate_limit(policy: BreakGlassPolicy, mine: list[AccessRequest], now: datetime) -> None:
    """Refuse inside the cooldown, or past ``per_user`` grants in the window; the refusal
    names when the next one is possible."""
    opened = sorted(g.created_at for g in mine)
    if opened and now < opened[-1] + policy.cooldown:
        when = opened[-1] + policy.cooldown
        raise Refusal(
            429,
            "BreakGlassCooldown",
            f"you opened break-glass at {iso(opened[-1])}; the next one is possible at "
            f"{iso(when)} (cooldown {format_duration(policy.cooldown)})",
            headers={"Retry-After": str(max(1, int((when - now).total_seconds())))},
        )
    recent = [t for t in opened if t > now - policy.window]
    if len(recent) >= policy.per_user:
        when = recent[len(recent) - policy.per_user] + policy.window
        raise Refusal(
            429,
            "BreakGlassRateLimited",
            f"you opened {len(recent)} break-glass grants in the last "
            f"{format_duration(policy.window)} (the limit is {policy.per_user}); the next one "
            f"is possible at {iso(when)}",
            headers={"Retry-After": str(max(1, int((when - now).total_seconds())))},
        )
