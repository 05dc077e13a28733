"""The request items' reads and writes: the index item, conditional replaces, the sweep's view
(:meth:`RequestTable.open`) and the security team's cancel of a user's pending requests.

The item format and the states are in :mod:`sentinelgw.service.requests`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sentinelgw.awsclients import error_code, translate
from sentinelgw.service.refusal import Refusal, refused
from sentinelgw.service.requests import (
    FINAL,
    INDEX_ID,
    INDEX_KEEP,
    AccessRequest,
    RequestDecision,
    is_request_id,
)
from sentinelgw.sessions.store import REQUEST_PREFIX


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
