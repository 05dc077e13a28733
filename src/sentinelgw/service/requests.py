"""Access requests: items in the session table that only the credential service writes.

A request is the item ``id = request#<16 hex>``. Its attributes are named so that it has none
of the key attributes of the table's indexes (``user``, ``status``, ``profile``, ...), like a
block's: it never appears in a session query, and every reader of sessions skips ``request#``
ids (:data:`sentinelgw.sessions.store.REQUEST_PREFIX`). Users cannot write the table, so a
user cannot approve their own request by writing it.

Listing without a Scan (the service may not scan the table): the item ``id = request#`` holds
the string set ``req_ids``; an id is added before its request is put, and requests that ended
a week ago leave it.

States: ``pending`` → ``approved`` / ``denied`` / ``cancelled`` / ``expired``. A pending
request expires at ``pending_until``; an approved one is usable from ``approved_at`` until
``ends_at`` (approval + duration), and is then marked ``expired`` by the service's sweep,
which revokes the sessions started under it. Every write is a conditional UpdateItem on the
item's ``req_version``, so two approvers racing cannot both count, and a decision on a request
that changed meanwhile is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.service.refusal import Refusal
from sentinelgw.sessions.model import decode_time, encode_time, is_session_id, retention_ttl
from sentinelgw.sessions.store import REQUEST_PREFIX
from sentinelgw.timeutil import iso

INDEX_ID = REQUEST_PREFIX  # the item listing request ids (string set req_ids)
INDEX_KEEP = timedelta(days=7)  # an ended request stays listed this long
STATES = ("pending", "approved", "denied", "cancelled", "expired")
FINAL = ("denied", "cancelled", "expired")
MIN_JUSTIFICATION, MAX_JUSTIFICATION = 10, 500
MAX_COMMENT = 500
EXPORT_FIELDS = (
    "id",
    "requester",
    "profile",
    "role_arn",
    "status",
    "justification",
    "duration_seconds",
    "created_at",
    "pending_until",
    "approved_at",
    "ends_at",
    "approvals_needed",
    "approval_rule",
    "decisions",
    "sessions",
    "end_reason",
    "kind",
    "reason_code",
    "mfa",
)
KINDS = ("request", "breakglass")  # an access request, or a break-glass grant (issue 22)


@dataclass(frozen=True, slots=True)
class RequestDecision:
    """One decision on a request: who, when, what, and their comment (untrusted text)."""

    action: str  # approve, deny, cancel, auto-approve, expire
    by: str
    by_arn: str
    at: datetime
    comment: str = ""

    def to_export(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "by": self.by,
            "by_arn": self.by_arn,
            "at": _iso(self.at),
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class AccessRequest:
    id: str
    requester: str
    requester_arn: str
    profile: str
    role_arn: str
    justification: str
    duration: timedelta
    status: str
    created_at: datetime
    pending_until: datetime
    approvals_needed: int = 1
    approval_rule: str | None = None
    approved_at: datetime | None = None
    ends_at: datetime | None = None
    decisions: tuple[RequestDecision, ...] = ()
    sessions: tuple[str, ...] = ()
    end_reason: str | None = None
    # "breakglass": an emergency grant opened without approval (sentinelgw.service.breakglass),
    # with its reason code and how MFA was met.
    kind: str = "request"
    reason_code: str | None = None
    mfa: str | None = None
    version: int = 0
    ttl: int = field(default=0)

    def effective_status(self, now: datetime) -> str:
        """``pending`` past ``pending_until`` and ``approved`` past ``ends_at`` read expired."""
        if self.status == "pending" and now >= self.pending_until:
            return "expired"
        if self.status == "approved" and self.ends_at is not None and now >= self.ends_at:
            return "expired"
        return self.status

    def usable(self, now: datetime) -> bool:
        return (
            self.status == "approved"
            and self.approved_at is not None
            and self.ends_at is not None
            and self.approved_at <= now < self.ends_at
        )

    def approvers(self) -> tuple[str, ...]:
        return tuple(d.by_arn for d in self.decisions if d.action in ("approve", "auto-approve"))

    def to_export(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "requester": self.requester,
            "profile": self.profile,
            "role_arn": self.role_arn,
            "status": self.effective_status(now),
            "justification": self.justification,
            "duration_seconds": int(self.duration.total_seconds()),
            "created_at": _iso(self.created_at),
            "pending_until": _iso(self.pending_until),
            "approved_at": _iso(self.approved_at),
            "ends_at": _iso(self.ends_at),
            "approvals_needed": self.approvals_needed,
            "approval_rule": self.approval_rule,
            "decisions": [d.to_export() for d in self.decisions],
            "sessions": list(self.sessions),
            "end_reason": self.end_reason,
            "kind": self.kind,
            "reason_code": self.reason_code,
            "mfa": self.mfa,
        }

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": {"S": REQUEST_PREFIX + self.id},
            "req_user": {"S": self.requester},
            "req_user_arn": {"S": self.requester_arn},
            "req_profile": {"S": self.profile},
            "req_role_arn": {"S": self.role_arn},
            "req_justification": {"S": self.justification},
            "req_duration": {"N": str(int(self.duration.total_seconds()))},
            "req_status": {"S": self.status},
            "req_created_at": {"N": encode_time(self.created_at)},
            "req_pending_until": {"N": encode_time(self.pending_until)},
            "req_needed": {"N": str(self.approvals_needed)},
            "req_decisions": {"L": [_decision_item(d) for d in self.decisions]},
            "req_sessions": {"L": [{"S": s} for s in self.sessions]},
            "req_version": {"N": str(self.version)},
            "ttl": {"N": str(self.ttl or retention_ttl(self.pending_until + self.duration))},
        }
        if self.approval_rule:
            item["req_rule"] = {"S": self.approval_rule}
        if self.approved_at is not None:
            item["req_approved_at"] = {"N": encode_time(self.approved_at)}
        if self.ends_at is not None:
            item["req_ends_at"] = {"N": encode_time(self.ends_at)}
        if self.end_reason:
            item["req_end_reason"] = {"S": self.end_reason}
        if self.kind != "request":
            item["req_kind"] = {"S": self.kind}
        if self.reason_code:
            item["req_reason_code"] = {"S": self.reason_code}
        if self.mfa:
            item["req_mfa"] = {"S": self.mfa}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AccessRequest:
        try:
            ident = item["id"]["S"]
            if not ident.startswith(REQUEST_PREFIX):
                raise ValueError("not a request item")
            return cls(
                id=ident[len(REQUEST_PREFIX) :],
                requester=item["req_user"]["S"],
                requester_arn=item["req_user_arn"]["S"],
                profile=item["req_profile"]["S"],
                role_arn=item["req_role_arn"]["S"],
                justification=item["req_justification"]["S"],
                duration=timedelta(seconds=int(item["req_duration"]["N"])),
                status=item["req_status"]["S"],
                created_at=decode_time(item["req_created_at"]["N"]),
                pending_until=decode_time(item["req_pending_until"]["N"]),
                approvals_needed=int(item["req_needed"]["N"]),
                approval_rule=_opt_s(item, "req_rule"),
                approved_at=_opt_t(item, "req_approved_at"),
                ends_at=_opt_t(item, "req_ends_at"),
                decisions=tuple(_decision(d["M"]) for d in item["req_decisions"]["L"]),
                sessions=tuple(str(s["S"]) for s in item.get("req_sessions", {}).get("L", [])),
                end_reason=_opt_s(item, "req_end_reason"),
                kind=_opt_s(item, "req_kind") or "request",
                reason_code=_opt_s(item, "req_reason_code"),
                mfa=_opt_s(item, "req_mfa"),
                version=int(item["req_version"]["N"]),
                ttl=int(float(item.get("ttl", {}).get("N", "0"))),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
            raise Refusal(
                503,
                "SessionTableUnavailable",
                "an access request item cannot be read, so the service refuses",
            ) from None


def _iso(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _decision_item(d: RequestDecision) -> dict[str, Any]:
    return {
        "M": {
            "action": {"S": d.action},
            "by": {"S": d.by},
            "by_arn": {"S": d.by_arn},
            "at": {"N": encode_time(d.at)},
            "comment": {"S": d.comment},
        }
    }


def _decision(m: dict[str, Any]) -> RequestDecision:
    return RequestDecision(
        action=m["action"]["S"],
        by=m["by"]["S"],
        by_arn=m["by_arn"]["S"],
        at=decode_time(m["at"]["N"]),
        comment=m.get("comment", {}).get("S", ""),
    )


def _opt_s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def _opt_t(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    return None if value is None else decode_time(value["N"])


def is_request_id(value: str) -> bool:
    return is_session_id(value)  # the same shape: 16 lowercase hex characters
