"""Blocked users: items in the session table that refuse a user's new sessions.

A block is the item ``id = block#<user>`` with ``blocked_user``, ``blocked_by`` (the blocker's
AWS identity ARN), ``blocked_reason``, ``blocked_at`` and, for a timed block,
``blocked_until`` (epoch seconds, like every time in the table). Lifting a block does not
delete the item: it adds ``lifted_by`` and ``lifted_at``, so the table keeps who blocked and
who unblocked, and a ``ttl`` lets DynamoDB delete it after the retention period (a timed
block gets that ``ttl`` when it is written). Every write is an UpdateItem, so the security
team needs no PutItem or DeleteItem on the table. Its attributes are named so that it has none of
the key attributes of the table's indexes (``user``, ``status``, ``profile``,
``server_instance_id``, ``source_identity``, ``started_at``): it never appears in a session
query, and the store skips ``block#`` ids wherever it reads items.

Listing without a scan: the item ``id = block#`` (no user) holds the string set
``blocked_users``; putting a block updates it in the same DynamoDB transaction.

Who enforces it: in local mode ``sentinel exec --server`` reads the block before it creates a
session (:func:`check_not_blocked`), which holds only while the user cooperates, because a
user with write access to the table can delete the item. The credential service reads it on
every session and credential request, and users cannot write its table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sentinelgw.config import DEFAULT_RETENTION_DAYS
from sentinelgw.errors import PolicyDenied, SessionStoreError, UsageError
from sentinelgw.sessions.listing import on_table
from sentinelgw.sessions.model import Item, decode_time, encode_time
from sentinelgw.timeutil import iso

BLOCK_PREFIX = "block#"
INDEX_ID = BLOCK_PREFIX  # the item listing every blocked user
BLOCK_FIELDS = (
    "user",
    "blocked_by",
    "reason",
    "blocked_at",
    "until",
    "active",
    "lifted_by",
    "lifted_at",
)
_MAX_USER = 256


class UserBlocked(PolicyDenied):
    """The user is blocked: no new session. Exit 1, like any denial."""


@dataclass(frozen=True, slots=True)
class Block:
    """One user's block. ``until`` None means until someone lifts it."""

    user: str
    blocked_by: str
    reason: str
    blocked_at: datetime
    until: datetime | None = None
    lifted_by: str | None = None
    lifted_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.lifted_at is None and (self.until is None or now < self.until)

    def to_export(self, now: datetime) -> dict[str, Any]:
        return {
            "user": self.user,
            "blocked_by": self.blocked_by,
            "reason": self.reason,
            "blocked_at": iso(self.blocked_at),
            "until": iso(self.until) if self.until else None,
            "active": self.active(now),
            "lifted_by": self.lifted_by,
            "lifted_at": iso(self.lifted_at) if self.lifted_at else None,
        }

    def describe(self) -> str:
        until = f"until {iso(self.until)}" if self.until else "until it is lifted"
        return f"user {self.user} is blocked {until} by {self.blocked_by}: {self.reason}"

    @classmethod
    def from_item(cls, item: Item) -> Block:
        """Decode a block item; raises ValueError for anything else."""
        try:
            until = item.get("blocked_until")
            lifted_at = item.get("lifted_at")
            lifted_by = item.get("lifted_by")
            return cls(
                user=str(item["blocked_user"]["S"]),
                blocked_by=str(item["blocked_by"]["S"]),
                reason=str(item["blocked_reason"]["S"]),
                blocked_at=decode_time(item["blocked_at"]["N"]),
                until=decode_time(until["N"]) if until else None,
                lifted_by=str(lifted_by["S"]) if lifted_by else None,
                lifted_at=decode_time(lifted_at["N"]) if lifted_at else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a block item: {exc}") from None


def is_block_id(item_id: str) -> bool:
    """True for block items and the block index: never a session."""
    return item_id.startswith(BLOCK_PREFIX)


def block_id(user: str) -> str:
    check_user(user)
    return BLOCK_PREFIX + user


def check_user(user: str) -> None:
    if not user or len(user) > _MAX_USER or any(ord(c) < 32 or ord(c) == 127 for c in user):
        raise UsageError(
            f"invalid user name {user[:40]!r}",
            hint=f"Give the AWS identity name Sentinel shows (1 to {_MAX_USER} characters)",
        )


def put_block(
    client: Any, table: str, block: Block, *, retention_days: int = DEFAULT_RETENTION_DAYS
) -> None:
    """Write (or replace) the block and add the user to the block index, atomically."""
    values: dict[str, Any] = {
        ":u": {"S": block.user},
        ":by": {"S": block.blocked_by},
        ":r": {"S": block.reason},
        ":at": {"N": encode_time(block.blocked_at)},
    }
    sets = ["blocked_user = :u", "blocked_by = :by", "blocked_reason = :r", "blocked_at = :at"]
    removes = ["lifted_by", "lifted_at"]
    if block.until is not None:
        values[":until"] = {"N": encode_time(block.until)}
        ttl = block.until + timedelta(days=retention_days)
        values[":ttl"] = {"N": str(int(ttl.timestamp()))}
        sets += ["blocked_until = :until", "#ttl = :ttl"]
    else:
        removes += ["blocked_until", "#ttl"]
    block_update = {
        "TableName": table,
        "Key": {"id": {"S": block_id(block.user)}},
        "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
        "ExpressionAttributeNames": {"#ttl": "ttl"},
        "ExpressionAttributeValues": values,
    }
    index_update = {
        "TableName": table,
        "Key": {"id": {"S": INDEX_ID}},
        "UpdateExpression": "ADD blocked_users :u",
        "ExpressionAttributeValues": {":u": {"SS": [block.user]}},
    }
    with on_table(client, table, "TransactWriteItems"):
        client.transact_write_items(
            TransactItems=[{"Update": block_update}, {"Update": index_update}]
        )


def lift_block(
    client: Any,
    table: str,
    user: str,
    *,
    by: str,
    now: datetime,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> Block | None:
    """Lift the user's block in force at ``now``; returns it lifted, or None if there was none.

    The item stays, with ``lifted_by`` and ``lifted_at``, until its ``ttl``.
    """
    existing = _read(client, table, user)
    if existing is None or not existing.active(now):
        return None
    ttl = int((now + timedelta(days=retention_days)).timestamp())
    with on_table(client, table, "UpdateItem"):
        client.update_item(
            TableName=table,
            Key={"id": {"S": block_id(user)}},
            UpdateExpression="SET lifted_by = :by, lifted_at = :at, #ttl = :ttl",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":by": {"S": by},
                ":at": {"N": encode_time(now)},
                ":ttl": {"N": str(ttl)},
            },
        )
    return replace(existing, lifted_by=by, lifted_at=now)


def get_block(client: Any, table: str, user: str, now: datetime) -> Block | None:
    """The user's block if it is in force at ``now`` (consistent read), else None.

    This is the check the credential service makes before each session or credential request.
    """
    block = _read(client, table, user)
    return block if block is not None and block.active(now) else None


def check_not_blocked(client: Any, table: str, user: str, now: datetime) -> None:
    """Raise :class:`UserBlocked` (exit 1) when ``user`` is blocked at ``now``."""
    block = get_block(client, table, user, now)
    if block is not None:
        raise UserBlocked(
            f"{block.describe()}; no new session is started. "
            f"The security team lifts it with: sentinel server-unblock --user {block.user}"
        )


def refuse_if_blocked(client: Any, table: str, user: str, now: datetime, *, required: bool) -> None:
    """The check ``sentinel exec --server`` makes before it creates a session.

    Raises :class:`UserBlocked` for a blocked user. If the block cannot be read, a session that
    must be tracked is refused (fail closed); any other goes on, and creating its record then
    meets the same table and reports the problem once, as tracking failures are reported.
    """
    try:
        check_not_blocked(client, table, user, now)
    except UserBlocked:
        raise
    except SessionStoreError as exc:
        if required:
            raise SessionStoreError(
                f"cannot read whether user {user} is blocked in table {table!r} ({exc}); the "
                "policy requires session tracking for this profile, so no credentials were issued"
            ) from exc


def list_blocks(
    client: Any, table: str, now: datetime, *, include_ended: bool = False
) -> Iterator[Block]:
    """Every block in the index, by user; ended or lifted ones only with ``include_ended``."""
    with on_table(client, table, "GetItem"):
        resp = client.get_item(TableName=table, Key={"id": {"S": INDEX_ID}}, ConsistentRead=True)
    users = sorted((resp.get("Item") or {}).get("blocked_users", {}).get("SS", []))
    for user in users:
        block = _read(client, table, user)
        if block is not None and (include_ended or block.active(now)):
            yield block


def _read(client: Any, table: str, user: str) -> Block | None:
    with on_table(client, table, "GetItem"):
        resp = client.get_item(
            TableName=table, Key={"id": {"S": block_id(user)}}, ConsistentRead=True
        )
    item = resp.get("Item")
    if not item:
        return None
    try:
        return Block.from_item(item)
    except ValueError as exc:
        raise SessionStoreError(
            f"session table {table!r} holds a block item for {user!r} that Sentinel cannot "
            f"read ({exc})",
            hint=f"Lift it with: sentinel server-unblock --user {user}",
        ) from None
