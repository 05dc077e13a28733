"""Access requests at the credential service: ask, approve, deny, cancel, list, expire.

Each call takes a verified :class:`Caller` (from a proof) and plain values, decides with the
service's own document (``approvals:``) and table, and returns data or raises
:class:`Refusal`; nothing the client sends names a policy, an approver or a table. Every
decision is written on the request (who, their ARN, when, the comment) and in the service log
(the ``note`` the API logs), and announced through :mod:`sentinelgw.service.notify`.

Rules: a requester never approves or denies their own request (same ARN or same human); only an
approver of the rule covering the profile decides; a request that is not pending cannot be
decided; an approver counts once. A blocked requester's pending requests are cancelled, as are
a user's pending requests when the service revokes one of their sessions. :meth:`sweep` marks
requests past their time ``expired`` and revokes the sessions started under an approval that
ended (hard, where the service has hard revocation).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sentinelgw.policy import Decision, evaluate
from sentinelgw.policy.evaluate import mismatch
from sentinelgw.service.access_util import (
    approval_rule,
    auto_approved,
    comment_of,
    justification,
    refuse_if_blocked,
)
from sentinelgw.service.approvals import ApprovalRule
from sentinelgw.service.caller import Caller
from sentinelgw.service.checks import _required, _service_denial, _target
from sentinelgw.service.document import ServiceDocument, Target
from sentinelgw.service.grants import (
    BREAKGLASS,
    attach_session,
    close_grant,
    notify_grant,
    policy_request,
    sweep_grants,
)
from sentinelgw.service.groups import may_approve
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.request_table import RequestTable
from sentinelgw.service.requests import (
    FINAL,
    STATES,
    AccessRequest,
    RequestDecision,
    is_request_id,
)
from sentinelgw.sourceidentity import new_id
from sentinelgw.timeutil import format_duration, iso

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService

MAX_REQUEST = timedelta(hours=12)


class AccessRequests:
    """The request calls of :class:`SentinelService` (``service.requests``)."""

    def __init__(self, service: SentinelService) -> None:
        self.service = service
        self.table = RequestTable(service.table.client, service.table.table)

    # -- the calls ----------------------------------------------------------------------

    def create(self, caller: Caller, body: dict[str, Any], note: dict[str, Any]) -> dict[str, Any]:
        s = self.service
        profile = _required(body, "profile")
        note["profile"] = profile
        text = justification(body.get("justification"))
        doc = s.document()
        wait = s.limiter.take(f"requests:{caller.user}", doc.limits["session_starts_per_minute"])
        if wait is not None:
            raise Refusal(
                429,
                "TooManyRequests",
                f"user {caller.user} asked too often in the last minute; try again in {wait}s",
                headers={"Retry-After": str(wait)},
            )
        target = _target(doc, profile)
        now = s.clock()
        refuse_if_blocked(s, caller, now)
        decision = self._needs_approval(doc, caller, target, now)
        cap = min(decision.max_server_duration or MAX_REQUEST, MAX_REQUEST)
        duration = self._duration(body.get("duration_seconds"), doc, cap)
        self._refuse_if_open(caller, profile, now)
        rule = approval_rule(doc, target, caller.user, now)
        request = AccessRequest(
            id=new_id(),
            requester=caller.user,
            requester_arn=caller.arn,
            profile=profile,
            role_arn=target.role_arn,
            justification=text,
            duration=duration,
            status="pending",
            created_at=now,
            pending_until=now + doc.approvals.pending_expiry,
            approvals_needed=rule.approvals_needed if rule else 1,
            approval_rule=rule.name if rule else None,
        )
        auto = rule is not None and any(
            mismatch(cond, policy_request(self.service, caller, target, now)) is None
            for cond in rule.auto_approve
        )
        if auto:
            request = auto_approved(request, rule.name if rule else "?", now)
        self.table.create(request)
        note.update(access_request=request.id, decision="auto-approve" if auto else "request")
        note["message"] = f"access request for {profile}, {format_duration(duration)}" + (
            " (auto-approved)" if auto else ""
        )
        notify_grant(
            self.service, doc, "request", request, f"{caller.user} asks for access to {profile}"
        )
        if auto:
            notify_grant(
                self.service, doc, "approve", request, f"access to {profile} was auto-approved"
            )
        return self._export(request, now, doc, caller)

    def _needs_approval(
        self, doc: ServiceDocument, caller: Caller, target: Target, now: datetime
    ) -> Decision:
        """The policy's decision, which must be ``no_approval`` for a request to make sense."""
        decision = evaluate(doc.policy, policy_request(self.service, caller, target, now))
        if decision.denial == "no_approval":
            return decision
        if decision.allowed:
            raise Refusal(
                409,
                "ApprovalNotRequired",
                f"profile {target.profile} needs no approval for you; run: sentinel exec "
                f"--remote URL --profile {target.profile} -- ...",
            )

        raise Refusal(
            403,
            "PolicyDenied",
            "Sentinel policy denied this request: "
            + _service_denial(decision, policy_request(self.service, caller, target, now)),
        )

    def _refuse_if_open(self, caller: Caller, profile: str, now: datetime) -> None:
        for old in self.table.all():
            state = old.effective_status(now)
            if (
                old.kind != BREAKGLASS
                and old.requester_arn == caller.arn
                and old.profile == profile
                and state in ("pending", "approved")
            ):
                raise Refusal(
                    409,
                    "RequestExists",
                    f"you already have request {old.id} for profile {profile} ({state}); "
                    f"cancel it first with: sentinel request-cancel {old.id}",
                )

    def decide(
        self,
        caller: Caller,
        request_id: str,
        action: str,
        body: dict[str, Any],
        note: dict[str, Any],
    ) -> dict[str, Any]:
        """``approve``, ``deny`` or ``cancel`` one request."""
        s = self.service
        note["access_request"] = request_id
        note["decision"] = action
        comment = comment_of(body.get("comment"))
        if comment:
            note["comment"] = comment
        doc = s.document()
        now = s.clock()
        request = self._get(request_id)
        note["profile"] = request.profile
        state = request.effective_status(now)
        own = request.requester_arn == caller.arn or request.requester in caller.humans
        if action == "cancel":
            if not own and not any(fnmatchcase(caller.user, a) for a in doc.admins):
                raise Refusal(
                    403,
                    "NotRequester",
                    f"request {request_id} is not yours; only its requester (or the service "
                    "document's admins) may cancel it",
                )
            if state not in ("pending", "approved"):
                raise Refusal(409, "RequestNotOpen", f"request {request_id} is already {state}")
            return self._close(doc, request, "cancelled", caller, comment, now, note)
        rule = self._decider_rule(doc, request, caller, action, own, now)
        if state != "pending":
            raise Refusal(
                409,
                "RequestNotPending",
                f"request {request_id} is {state}, not pending; nothing was changed",
            )
        if caller.arn in request.approvers():
            raise Refusal(409, "AlreadyApproved", f"you already approved request {request_id}")
        if s.table.block(request.requester, now) is not None:
            self._close(doc, request, "cancelled", None, "the requester is blocked", now, {})
            raise Refusal(
                409,
                "RequesterBlocked",
                f"the requester of {request_id} is blocked; the request was cancelled",
            )
        if action == "deny":
            return self._close(doc, request, "denied", caller, comment, now, note)
        return self._approve(doc, request, rule, caller, comment, now, note)

    def _decider_rule(
        self,
        doc: ServiceDocument,
        request: AccessRequest,
        caller: Caller,
        action: str,
        own: bool,
        now: datetime,
    ) -> ApprovalRule:
        """The rule under which ``caller`` may decide ``request``; else a refusal."""
        if own:
            raise Refusal(
                403,
                "SelfApproval",
                f"you cannot {action} your own request {request.id}; another approver must "
                "decide it (cancel it with sentinel request-cancel)",
            )
        target = doc.profiles.get(request.profile)
        rule = (
            approval_rule(doc, target, request.requester, now)
            if target is not None and target.role_arn == request.role_arn
            else None
        )
        if rule is None or not may_approve(rule, caller, doc, self.service.groups):
            raise Refusal(
                403,
                "NotAnApprover",
                f"user {caller.user} is not an approver for profile {request.profile} in the "
                "service document's approvals",
            )
        return rule

    def _approve(
        self,
        doc: ServiceDocument,
        request: AccessRequest,
        rule: ApprovalRule,
        caller: Caller,
        comment: str,
        now: datetime,
        note: dict[str, Any],
    ) -> dict[str, Any]:
        decision = RequestDecision(
            action="approve", by=caller.user, by_arn=caller.arn, at=now, comment=comment
        )
        decisions = (*request.decisions, decision)
        count = len({d.by_arn for d in decisions if d.action == "approve"})
        updated = replace(request, decisions=decisions)
        if count >= rule.approvals_needed:
            updated = replace(
                updated, status="approved", approved_at=now, ends_at=now + request.duration
            )
        updated = self.table.replace(request, updated)
        note["message"] = (
            f"approved ({count} of {rule.approvals_needed})"
            if updated.status == "pending"
            else f"approved until {iso(updated.ends_at)}"
        )
        notify_grant(
            self.service,
            doc,
            "approve",
            updated,
            f"{caller.user} approved access to {request.profile} for {request.requester}",
            comment=comment,
        )
        return self._export(updated, now, doc, caller)

    def listing(self, caller: Caller, body: dict[str, Any], note: dict[str, Any]) -> dict[str, Any]:
        s = self.service
        doc = s.document()
        now = s.clock()
        status = body.get("status")
        if status is not None and status not in STATES:
            raise Refusal(400, "BadRequest", f"status must be one of {', '.join(STATES)}")
        mine, pending = bool(body.get("mine")), bool(body.get("pending"))
        self.sweep(now)
        admin = any(fnmatchcase(caller.user, a) for a in doc.admins)
        rows = []
        for request in self.table.all():
            if request.kind == BREAKGLASS:
                continue  # sentinel breakglass-list shows those
            own = request.requester_arn == caller.arn
            may_decide = self._may_decide(doc, request, caller, now)
            if mine and not own:
                continue
            if pending and not (may_decide and request.effective_status(now) == "pending"):
                continue
            if not (own or may_decide or admin):
                continue
            if status and request.effective_status(now) != status:
                continue
            rows.append(self._export(request, now, doc, caller))
        return {"user": caller.user, "requests": rows}

    def show(self, caller: Caller, request_id: str, note: dict[str, Any]) -> dict[str, Any]:
        doc = self.service.document()
        now = self.service.clock()
        note["access_request"] = request_id
        request = self._get(request_id)
        admin = any(fnmatchcase(caller.user, a) for a in doc.admins)
        if not (
            request.requester_arn == caller.arn
            or admin
            or self._may_decide(doc, request, caller, now)
        ):
            raise Refusal(404, "RequestNotFound", f"no request {request_id} for you")
        return self._export(request, now, doc, caller)

    # -- used by the session calls -------------------------------------------------------

    def covering(
        self, caller: Caller, profile: str, role_arn: str, now: datetime, only: str | None = None
    ) -> AccessRequest | None:
        """The caller's approved request that covers ``profile`` now (``only``: that one)."""
        if only is not None:
            found = self.table.get(only)
            candidates = [found] if found is not None else []
        else:
            candidates = self.table.all()
        for request in candidates:
            if (
                request.requester_arn == caller.arn
                and request.profile == profile
                and request.role_arn == role_arn
                and request.usable(now)
            ):
                return request
        return None

    def attach(self, request: AccessRequest, session_id: str, user: str, now: datetime) -> None:
        """Record a session started under ``request`` (or a break-glass grant) and announce it
        (best effort: the session record carries the id whatever happens here)."""
        attach_session(self.service, request, session_id, user)

    def user_revoked(self, user: str, by: str, now: datetime) -> int:
        """Cancel ``user``'s pending requests (their session was revoked, or they are
        blocked); returns how many."""
        try:
            doc = self.service.document()
        except Refusal:
            return 0
        count = 0
        for request in self.table.all():
            if request.requester == user and request.effective_status(now) == "pending":
                try:
                    self._close(doc, request, "cancelled", None, f"user revoked by {by}", now, {})
                    count += 1
                except Refusal:
                    pass
        return count

    def sweep(self, now: datetime) -> list[str]:
        """Expire what is past its time, cancel blocked requesters' pending requests, and
        revoke sessions under an approval (or break-glass grant) that ended. Returns the ids
        it changed."""
        return sweep_grants(self.service, now)

    # -- helpers ------------------------------------------------------------------------

    def _close(
        self,
        doc: ServiceDocument,
        request: AccessRequest,
        status: str,
        caller: Caller | None,
        comment: str,
        now: datetime,
        note: dict[str, Any],
    ) -> dict[str, Any]:
        updated = close_grant(self.service, doc, request, status, caller, comment, now, note)
        return self._export(updated, now, doc, caller)

    def _get(self, request_id: str) -> AccessRequest:
        if not is_request_id(request_id):
            raise Refusal(404, "RequestNotFound", "no such request (ids are 16 hex characters)")
        request = self.table.get(request_id)
        if request is None:
            raise Refusal(404, "RequestNotFound", f"no request {request_id}")
        if request.kind == BREAKGLASS:  # never approved, denied or cancelled as a request
            raise Refusal(
                404,
                "RequestNotFound",
                f"{request_id} is a break-glass grant, not a request; see it with sentinel "
                f"breakglass-show {request_id}, close it with sentinel breakglass-close",
            )
        return request

    def _may_decide(
        self, doc: ServiceDocument, request: AccessRequest, caller: Caller, now: datetime
    ) -> bool:
        if request.requester_arn == caller.arn or request.requester in caller.humans:
            return False
        target = doc.profiles.get(request.profile)
        if target is None:
            return False
        rule = approval_rule(doc, target, request.requester, now)
        try:
            return may_approve(rule, caller, doc, self.service.groups)
        except Refusal:
            return False  # the identity store cannot answer: not offered as decidable

    def _duration(self, raw: Any, doc: ServiceDocument, cap: timedelta) -> timedelta:
        if raw is None:
            return min(doc.approvals.default_duration, cap)
        low = int(self.service.min_session.total_seconds())
        if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= 43200:
            raise Refusal(
                400, "BadRequest", f"duration_seconds must be a whole number from {low} to 43200"
            )
        wanted = timedelta(seconds=raw)
        if wanted > cap:
            raise Refusal(
                400,
                "DurationTooLong",
                f"the policy allows at most {format_duration(cap)} for this profile",
            )
        return wanted

    def _export(
        self, request: AccessRequest, now: datetime, doc: ServiceDocument, caller: Caller | None
    ) -> dict[str, Any]:
        row = request.to_export(now)
        if caller is not None:
            row["you_may_decide"] = self._may_decide(doc, request, caller, now)
        return row


__all__ = ["FINAL", "AccessRequests", "approval_rule"]
