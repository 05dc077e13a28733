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

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.awsclients import error_code, translate
from sentinelgw.service.refusal import Refusal, refused
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


class RequestTable:
    """Reads and conditional writes of request items, through the service's DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        # Requests this process has read stored in a final state: id -> created_at (see open).
        self._final_seen: dict[str, datetime] = {}

    def _unavailable(self, exc: BaseException, operation: str) -> Refusal:
        resource = f"session table {self.table!r}"
        return refused(translate(exc, "dynamodb", operation, resource), operation)

    def create(self, request: AccessRequest) -> None:
        """Add the id to the index item, then put the request (an id whose item never came is
        skipped by :meth:`all`)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"id": {"S": INDEX_ID}},
                UpdateExpression="ADD req_ids :id",
                ExpressionAttributeValues={":id": {"SS": [request.id]}},
            )
            self.client.put_item(
                TableName=self.table,
                Item=request.to_item(),
                ConditionExpression="attribute_not_exists(id)",
            )
        except Exception as exc:
            raise self._unavailable(exc, "PutItem") from exc

    def get(self, request_id: str) -> AccessRequest | None:
        if not is_request_id(request_id):
            return None
        try:
            resp = self.client.get_item(
                TableName=self.table,
                Key={"id": {"S": REQUEST_PREFIX + request_id}},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise self._unavailable(exc, "GetItem") from exc
        item = resp.get("Item")
        return AccessRequest.from_item(item) if item else None

    def replace(self, old: AccessRequest, new: AccessRequest) -> AccessRequest:
        """Write ``new`` if the stored item is still at ``old``'s version; else 409."""
        new = replace(new, version=old.version + 1)
        try:
            self.client.put_item(
                TableName=self.table,
                Item=new.to_item(),
                ConditionExpression="req_version = :v",
                ExpressionAttributeValues={":v": {"N": str(old.version)}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Refusal(
                    409,
                    "RequestChanged",
                    f"request {old.id} changed while this decision was made; look again with "
                    f"sentinel requests and retry",
                ) from None
            raise self._unavailable(exc, "PutItem") from exc
        return new

    def all(self, now: datetime | None = None) -> list[AccessRequest]:
        """Every listed request, newest first: the ids of the index item, then their items
        (strongly consistent reads, no Scan). With ``now``, requests that ended more than
        ``INDEX_KEEP`` ago leave the index (they stay readable by id until their TTL)."""
        found = self._read(self._listed_ids())
        if now is not None:
            old = [
                r.id
                for r in found
                if r.effective_status(now) in FINAL and now - r.created_at > INDEX_KEEP
            ]
            if old:
                self._unlist(old)
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found

    def open(self, now: datetime) -> list[AccessRequest]:
        """The listed requests still stored as pending or approved: what a sweep may change.

        A request stored in a final state never leaves it (every write is conditional on the
        version that was read, and only pending or approved requests are decided or closed),
        so this process reads each one once: the sweep runs every second in ``tvm serve`` and
        the sandbox, and would otherwise read a week of ended requests every time. Those more
        than ``INDEX_KEEP`` old still leave the index, without being read again.
        """
        ids = self._listed_ids()
        listed = set(ids)
        final = {i: at for i, at in self._final_seen.items() if i in listed}
        old = [i for i, at in final.items() if now - at > INDEX_KEEP]
        if old:
            self._unlist(old)
        found = self._read([i for i in ids if i not in final])
        for request in found:
            if request.status in FINAL:
                final[request.id] = request.created_at
        self._final_seen = {i: at for i, at in final.items() if i not in old}
        return sorted(
            (r for r in found if r.status not in FINAL), key=lambda r: r.created_at, reverse=True
        )

    def _listed_ids(self) -> list[str]:
        try:
            resp = self.client.get_item(
                TableName=self.table, Key={"id": {"S": INDEX_ID}}, ConsistentRead=True
            )
        except Exception as exc:
            raise self._unavailable(exc, "GetItem") from exc
        return sorted(str(i) for i in resp.get("Item", {}).get("req_ids", {}).get("SS", []))

    def _read(self, ids: list[str]) -> list[AccessRequest]:
        """The items of ``ids`` (BatchGetItem, 100 at a time); ids without an item are skipped."""
        items: list[dict[str, Any]] = []
        try:
            for start in range(0, len(ids), 100):
                keys = [{"id": {"S": REQUEST_PREFIX + i}} for i in ids[start : start + 100]]
                pending: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
                for _ in range(5):
                    got = self.client.batch_get_item(RequestItems=pending)
                    items += got.get("Responses", {}).get(self.table, [])
                    pending = {
                        k: v for k, v in (got.get("UnprocessedKeys") or {}).items() if v.get("Keys")
                    }
                    if not pending:
                        break
                if pending:
                    raise Refusal(
                        503,
                        "SessionTableUnavailable",
                        "the session table kept returning unprocessed keys, so the service refuses",
                    )
        except Refusal:
            raise
        except Exception as exc:
            raise self._unavailable(exc, "BatchGetItem") from exc
        return [AccessRequest.from_item(i) for i in items]

    def _unlist(self, ids: list[str]) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"id": {"S": INDEX_ID}},
                UpdateExpression="DELETE req_ids :ids",
                ExpressionAttributeValues={":ids": {"SS": ids}},
            )
        except Exception:  # noqa: S110 - pruning the index is housekeeping only
            pass


def cancel_user_requests(
    client: Any, table: str, user: str, *, by: str, reason: str, now: datetime
) -> list[str]:
    """Cancel every pending request of ``user``: the security team's ``server-revoke --user``
    (with or without ``--block``), writing the table with its own permissions. Each write is
    conditional on the request's version (a request decided meanwhile is read again, up to
    three times). Returns the ids cancelled; raises :class:`Refusal` when the table fails."""
    requests = RequestTable(client, table)
    done: list[str] = []
    for request in requests.all():
        current: AccessRequest | None = request
        for _ in range(3):
            if current is None or current.requester != user:
                break
            if current.effective_status(now) != "pending":
                break
            decision = RequestDecision(
                action="cancel", by=by.rsplit("/", 1)[-1], by_arn=by, at=now, comment=reason
            )
            try:
                requests.replace(
                    current,
                    replace(
                        current,
                        status="cancelled",
                        decisions=(*current.decisions, decision),
                        end_reason=f"user revoked by {by}: {reason}"[:600],
                    ),
                )
            except Refusal as exc:
                if exc.code != "RequestChanged":
                    raise
                current = requests.get(current.id)
                continue
            done.append(current.id)
            break
    return done
