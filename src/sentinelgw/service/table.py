"""The service's reads and writes of the session table.

The service is the only principal allowed to write the table. Besides the usual session
record it stores the creator's verified ARN (``caller_arn``), so that only the creator can
fetch a session's credentials. Blocks are the items ``sentinel server-revoke --user U
--block`` writes (:mod:`sentinelgw.sessions.blocks`); one that cannot be read refuses.

Every failure is a 503 :class:`Refusal`: the service fails closed on any table error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinelgw.service.refusal import Refusal, aws_failure
from sentinelgw.sessions.blocks import Block, block_id
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.store import SessionStore, store_error


@dataclass(frozen=True, slots=True)
class StoredSession:
    record: SessionRecord
    caller_arn: str


def unavailable(exc: BaseException, table: str, operation: str) -> Refusal:
    """A 503 naming the call and AWS's error code; AWS's own text goes to the log only."""
    detail = store_error(exc, None, table, operation)
    return Refusal(
        503,
        "SessionTableUnavailable",
        f"the session table cannot be used (dynamodb:{operation}: {aws_failure(exc)}), "
        "so the service refuses",
        detail=detail.message,
    )


class ServiceTable:
    """Session and block items, through one low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.store = SessionStore(client, table)

    def create(self, record: SessionRecord, caller_arn: str) -> None:
        item = record.to_item()
        item["caller_arn"] = {"S": caller_arn}
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except Exception as exc:
            raise unavailable(exc, self.table, "PutItem") from exc

    def read(
        self, session_id: str, user: str, now: datetime, *, also: tuple[str, ...] = ()
    ) -> tuple[StoredSession | None, Block | None]:
        """The session and a block in force of ``user`` or of any user in ``also``, in one
        strongly consistent BatchGetItem."""
        users = list(dict.fromkeys((user, *also)))
        blocks = {block_id(u): u for u in users}
        keys = [{"id": {"S": session_id}}, *({"id": {"S": b}} for b in blocks)]
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        items: list[dict[str, Any]] = []
        try:
            for _ in range(4):
                resp = self.client.batch_get_item(RequestItems=request)
                items += resp.get("Responses", {}).get(self.table, [])
                request = {
                    k: v for k, v in (resp.get("UnprocessedKeys") or {}).items() if v.get("Keys")
                }
                if not request:
                    break
        except Exception as exc:
            raise unavailable(exc, self.table, "BatchGetItem") from exc
        if request:
            raise Refusal(
                503,
                "SessionTableUnavailable",
                "the session table kept returning unprocessed keys, so the service refuses",
            )
        session = block = None
        for item in items:
            ident = item.get("id", {}).get("S", "")
            if ident == session_id:
                session = self._session(item)
            elif ident in blocks:
                block = block or _block(blocks[ident], item, now)
        return session, block

    def block(self, user: str, now: datetime) -> Block | None:
        """The user's block in force at ``now`` (consistent read), else None."""
        try:
            resp = self.client.get_item(
                TableName=self.table, Key={"id": {"S": block_id(user)}}, ConsistentRead=True
            )
        except Exception as exc:
            raise unavailable(exc, self.table, "GetItem") from exc
        item = resp.get("Item")
        return _block(user, item, now) if item else None

    def get(self, session_id: str) -> StoredSession | None:
        try:
            resp = self.client.get_item(
                TableName=self.table, Key={"id": {"S": session_id}}, ConsistentRead=True
            )
        except Exception as exc:
            raise unavailable(exc, self.table, "GetItem") from exc
        item = resp.get("Item")
        return self._session(item) if item else None

    def _session(self, item: dict[str, Any]) -> StoredSession:
        try:
            record = SessionRecord.from_item(item)
        except ValueError:
            raise Refusal(
                503,
                "SessionTableUnavailable",
                "the session item cannot be read, so the service refuses",
            ) from None
        return StoredSession(record=record, caller_arn=item.get("caller_arn", {}).get("S", ""))

    def reachable(self) -> bool:
        try:
            self.client.get_item(TableName=self.table, Key={"id": {"S": "health#probe"}})
        except Exception:
            return False
        return True


def _block(user: str, item: dict[str, Any], now: datetime) -> Block | None:
    try:
        block = Block.from_item(item)
    except ValueError:
        raise Refusal(
            503,
            "SessionTableUnavailable",
            f"the block item of user {user} cannot be "
            "read, so the service refuses; lift or rewrite it with sentinel "
            "server-unblock",
        ) from None
    return block if block.active(now) else None
