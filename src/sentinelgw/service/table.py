"""The service's reads and writes of the session table.

The service is the only principal allowed to write the table. Besides the usual session
record it stores the creator's verified ARN (``caller_arn``), so that only the creator can
fetch a session's credentials. Blocks are the items ``sentinel server-revoke --user U
--block`` writes (:mod:`sentinelgw.sessions.blocks`); one that cannot be read refuses.

Every failure is a 503 :class:`Refusal`: the service fails closed on any table error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.errors import SessionStoreError
from sentinelgw.service.refusal import Refusal, refused
from sentinelgw.sessions.blocks import Block, block_id
from sentinelgw.sessions.listing import on_table
from sentinelgw.sessions.model import SessionRecord, decode_time, encode_time, retention_ttl
from sentinelgw.sessions.store import SessionStore


@dataclass(frozen=True, slots=True)
class StoredSession:
    record: SessionRecord
    caller_arn: str
    # A renewable session's latest possible end and its lease; None for a fixed lifetime.
    renew_until: datetime | None = None
    lease: timedelta | None = None
    # Set when the session was ended: no credential it issued is valid after it.
    valid_until: datetime | None = None


class ServiceTable:
    """Session and block items, through one low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.store = SessionStore(client, table)

    def create(
        self,
        record: SessionRecord,
        caller_arn: str,
        *,
        renew_until: datetime | None = None,
        lease: timedelta | None = None,
    ) -> None:
        item = record.to_item()
        item["caller_arn"] = {"S": caller_arn}
        if renew_until is not None and lease is not None:
            item["renew_until"] = {"N": encode_time(renew_until)}
            item["lease_seconds"] = {"N": str(int(lease.total_seconds()))}
        try:
            with on_table(self.client, self.table, "PutItem"):
                self.client.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(id)"
                )
        except SessionStoreError as exc:
            raise refused(exc, "PutItem") from exc

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
                with on_table(self.client, self.table, "BatchGetItem"):
                    resp = self.client.batch_get_item(RequestItems=request)
                items += resp.get("Responses", {}).get(self.table, [])
                request = {
                    k: v for k, v in (resp.get("UnprocessedKeys") or {}).items() if v.get("Keys")
                }
                if not request:
                    break
        except SessionStoreError as exc:
            raise refused(exc, "BatchGetItem") from exc
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
            with on_table(self.client, self.table, "GetItem"):
                resp = self.client.get_item(
                    TableName=self.table, Key={"id": {"S": block_id(user)}}, ConsistentRead=True
                )
        except SessionStoreError as exc:
            raise refused(exc, "GetItem") from exc
        item = resp.get("Item")
        return _block(user, item, now) if item else None

    def get(self, session_id: str) -> StoredSession | None:
        try:
            with on_table(self.client, self.table, "GetItem"):
                resp = self.client.get_item(
                    TableName=self.table, Key={"id": {"S": session_id}}, ConsistentRead=True
                )
        except SessionStoreError as exc:
            raise refused(exc, "GetItem") from exc
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
        try:
            renew_until = _time(item, "renew_until")
            valid_until = _time(item, "credentials_valid_until")
            lease_raw = item.get("lease_seconds", {}).get("N")
            lease = timedelta(seconds=int(lease_raw)) if lease_raw else None
        except (TypeError, ValueError, AttributeError, OverflowError, OSError):
            raise Refusal(
                503,
                "SessionTableUnavailable",
                "the session item cannot be read, so the service refuses",
            ) from None
        return StoredSession(
            record=record,
            caller_arn=item.get("caller_arn", {}).get("S", ""),
            renew_until=renew_until,
            lease=lease,
            valid_until=valid_until,
        )

    def renew(self, session_id: str, now: datetime, expires_at: datetime) -> SessionRecord:
        """Move an active session's ``expires_at`` (and TTL) on; a session that is no longer
        active (revoked, ended, or past its end: it missed its renewals) is refused."""
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                resp = self.client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": session_id}},
                    UpdateExpression="SET expires_at = :e, #ttl = :ttl",
                    ConditionExpression=(
                        "#s = :active AND attribute_not_exists(revoked_at) AND expires_at >= :now"
                    ),
                    ExpressionAttributeNames={"#s": "status", "#ttl": "ttl"},
                    ExpressionAttributeValues={
                        ":e": {"N": encode_time(expires_at)},
                        ":ttl": {"N": str(retention_ttl(expires_at))},
                        ":active": {"S": "active"},
                        ":now": {"N": encode_time(now)},
                    },
                    ReturnValues="ALL_NEW",
                )
        except SessionStoreError as exc:
            if exc.aws_code == "ConditionalCheckFailedException":
                raise Refusal(
                    403, "SessionExpired", f"session {session_id} has ended; start a new one"
                ) from None
            raise refused(exc, "UpdateItem") from exc
        return self._session(resp["Attributes"]).record

    def end(
        self, session_id: str, now: datetime, reason: str, valid_until: datetime
    ) -> SessionRecord:
        """``active`` to ``ended`` with ``end_reason``, ``ended_at`` and
        ``credentials_valid_until``; a session already out of ``active`` is a 409."""
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                resp = self.client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": session_id}},
                    UpdateExpression=(
                        "SET #s = :ended, end_reason = :reason, ended_at = :at, "
                        "credentials_valid_until = :valid"
                    ),
                    ConditionExpression="#s = :active AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":ended": {"S": "ended"},
                        ":active": {"S": "active"},
                        ":reason": {"S": reason},
                        ":at": {"N": encode_time(now)},
                        ":valid": {"N": encode_time(valid_until)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except SessionStoreError as exc:
            if exc.aws_code == "ConditionalCheckFailedException":
                old = getattr(exc.__cause__, "response", {}).get("Item") or {}
                state = "revoked" if "revoked_at" in old else old.get("status", {}).get("S", "gone")
                raise Refusal(
                    409, "SessionEnded", f"session {session_id} is already {state}"
                ) from None
            raise refused(exc, "UpdateItem") from exc
        return self._session(resp["Attributes"]).record

    def mine(self, user: str, caller_arn: str, limit: int) -> list[StoredSession]:
        """The sessions ``caller_arn`` created, newest first (user index, filtered on the
        creator's ARN: another principal with the same user name sees none of them)."""
        found: list[StoredSession] = []
        req: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "user-index",
            "KeyConditionExpression": "#u = :u",
            "FilterExpression": "caller_arn = :arn",
            "ExpressionAttributeNames": {"#u": "user"},
            "ExpressionAttributeValues": {":u": {"S": user}, ":arn": {"S": caller_arn}},
            "ScanIndexForward": False,
        }
        try:
            while len(found) < limit:
                with on_table(self.client, self.table, "Query"):
                    resp = self.client.query(**req)
                for item in resp.get("Items", []):
                    if not str(item.get("id", {}).get("S", "")).startswith(("block#", "request#")):
                        found.append(self._session(item))
                last = resp.get("LastEvaluatedKey")
                if not last:
                    break
                req["ExclusiveStartKey"] = last
        except SessionStoreError as exc:
            raise refused(exc, "Query") from exc
        return found[:limit]

    def reachable(self) -> bool:
        try:
            self.client.get_item(TableName=self.table, Key={"id": {"S": "health#probe"}})
        except Exception:
            return False
        return True


def _time(item: dict[str, Any], name: str) -> datetime | None:
    raw = item.get(name, {}).get("N")
    return decode_time(raw) if raw else None


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
