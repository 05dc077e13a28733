"""Reading and writing session records (docs/architecture.md, "Session store").

Concurrency rules, all enforced by DynamoDB condition expressions rather than read-then-write:

- ``create`` never overwrites (``attribute_not_exists(id)``);
- ``touch`` never writes ``status``, and only applies while the stored status is ``active``,
  so a request counted concurrently with ``server-revoke`` can never bring a session back;
- ``mark_expired`` and ``revoke`` only move a session out of ``active``; whichever lands first
  wins and the other learns the current state from ``ReturnValuesOnConditionCheckFailure``.
- A revocation is permanent: no write but ``revoke`` sets ``revoked_by``, ``revoked_reason`` or
  ``revoked_at``, none removes them, and ``touch`` and ``mark_expired`` also require
  ``revoked_at`` to be absent. A record carrying ``revoked_at`` reads as revoked (``status``
  and the effective status) even if its ``status`` attribute was rewritten by hand.

Items whose id starts with ``block#`` are user blocks (:mod:`sentinelgw.sessions.blocks`), not
sessions: every read path here skips them.

Status filters use the *effective* status: ``--status expired`` also returns records still
stored ``active`` whose ``expires_at`` has passed (a server killed before it could mark them),
and ``--status active`` leaves those out. Queries go to the GSIs, and are
generators, so an export of any size runs in constant memory. The one exception: an unfiltered
listing also scans the status index for statuses Sentinel does not know (another writer of the
table chose them), so no record can hide from the listing by its status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.awserrors import error_code
from sentinelgw.errors import SessionNotFound, SessionStoreError, UsageError
from sentinelgw.session_table import DEFAULT_SESSION_TABLE, resolve_admin_table
from sentinelgw.sessions.listing import (
    BLOCK_PREFIX,
    NOT_SESSIONS,
    REQUEST_PREFIX,
    Listing,
    is_not_session,
    on_table,
)
from sentinelgw.sessions.model import (
    CLOCK_SKEW,
    Item,
    SessionRecord,
    UnreadableItem,
    encode_time,
)
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.context import Context

__all__ = ["BLOCK_PREFIX", "REQUEST_PREFIX", "SessionStore", "on_table", "open_store"]

BATCH_LIMIT = 100  # DynamoDB BatchGetItem takes at most 100 keys per call
DEFAULT_TABLE = DEFAULT_SESSION_TABLE
# The server's writes (request counts, expiry) apply only to a session never revoked.
_STILL_ACTIVE = "#s = :active AND attribute_not_exists(revoked_at)"
# An ended session one of whose credentials may still be valid (see SessionStore.revoke).
_ENDED_BUT_LIVE = (
    "(#s = :expired OR #s = :ended) AND attribute_not_exists(revoked_at) AND ("
    "credentials_expire_at > :cutoff OR "
    "(attribute_not_exists(credentials_expire_at) AND expires_at > :cutoff))"
)


class SessionStore(Listing):
    """The session table behind one low-level DynamoDB client.

    ``read_calls`` counts the session items requested through :meth:`batch_get` and
    :meth:`get` (each distinct id once per call), ``batch_calls`` the BatchGetItem requests
    sent (including UnprocessedKeys retries). The audit's tests use them to prove the table is
    read once per distinct SourceIdentity.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        retry_delay: float = 0.05,
        on_unreadable: Callable[[UnreadableItem], None] | None = None,
    ) -> None:
        self.client = client
        self.table = table
        # Listings and audits pass a callback: an item they cannot read is reported and
        # skipped, so one bad item never hides the rest. Without one, it is an error.
        self.on_unreadable = on_unreadable
        self.read_calls = 0
        self.batch_calls = 0
        self._retry_delay = retry_delay

    def __repr__(self) -> str:
        return f"SessionStore(table={self.table!r})"

    # -- writes -----------------------------------------------------------------------------

    def create(self, record: SessionRecord) -> None:
        """Write a new record; refuses to overwrite an existing id."""
        try:
            with on_table(self.client, self.table, "PutItem"):
                self.client.put_item(
                    TableName=self.table,
                    Item=record.to_item(),
                    ConditionExpression="attribute_not_exists(id)",
                )
        except SessionStoreError as exc:
            if _is_conditional(exc):
                raise SessionStoreError(
                    f"session {record.id} already exists in table {self.table!r}",
                    hint="Session ids must be unique; start a new session",
                ) from None
            raise

    def touch(
        self,
        id: str,
        count: int,
        at: datetime,
        *,
        expires_at: datetime | None = None,
        ttl: int | None = None,
        credentials_expire_at: datetime | None = None,
    ) -> bool:
        """Add ``count`` requests and set ``last_access_at``; False if no longer active.

        A server whose credentials were refreshed also moves ``expires_at`` (and the TTL) on,
        so a long-running session is never reported expired while it still serves, and
        records the latest STS expiry it received (``credentials_expire_at``).
        """
        update = "ADD request_count :n SET last_access_at = :t"
        values: dict[str, dict[str, str]] = {
            ":n": {"N": str(int(count))},
            ":t": {"N": encode_time(at)},
            ":active": {"S": "active"},
        }
        if expires_at is not None:
            update += ", expires_at = :e"
            values[":e"] = {"N": encode_time(expires_at)}
        if credentials_expire_at is not None:
            update += ", credentials_expire_at = :c"
            values[":c"] = {"N": encode_time(credentials_expire_at)}
        if ttl is not None:
            update += ", #ttl = :ttl"
            values[":ttl"] = {"N": str(int(ttl))}
        names = {"#s": "status"}
        if ttl is not None:
            names["#ttl"] = "ttl"
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_key(id),
                    UpdateExpression=update,
                    ConditionExpression=_STILL_ACTIVE,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except SessionStoreError as exc:
            if _is_conditional(exc):
                return False
            raise
        return True

    def add_access_keys(self, id: str, keys: Iterable[str]) -> None:
        """Add the access key ids of credentials issued for the session to its record.

        Whatever the session's status: the keys were issued, so an audit must find them. The
        record must exist (a missing one raises :class:`SessionNotFound`).
        """
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_key(id),
                    UpdateExpression="ADD access_key_ids :k",
                    ConditionExpression="attribute_exists(id)",
                    ExpressionAttributeValues={":k": {"SS": wanted}},
                )
        except SessionStoreError as exc:
            if _is_conditional(exc):
                raise SessionNotFound(f"unknown session {id} in table {self.table!r}") from None
            raise

    def mark_expired(self, id: str, at: datetime, reason: str | None = None) -> bool:
        """Move an active session to ``expired`` (server ended), recording ``reason`` as
        ``end_reason`` when given; False if it was not active."""
        values = {
            ":expired": {"S": "expired"},
            ":active": {"S": "active"},
            ":at": {"N": encode_time(at)},
        }
        update = "SET #s = :expired, ended_at = :at"
        if reason:
            update += ", end_reason = :reason"
            values[":reason"] = {"S": reason}
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_key(id),
                    UpdateExpression=update,
                    ConditionExpression=_STILL_ACTIVE,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=values,
                )
        except SessionStoreError as exc:
            if _is_conditional(exc):
                return False
            raise
        return True

    def revoke(self, id: str, by: str, reason: str, at: datetime) -> SessionRecord:
        """Revoke a session and return the revoked record.

        A record still stored ``active`` is revocable even past ``expires_at``: if its server is
        in fact still running, refusing would leave it serving credentials. A record stored
        ``expired`` or ``ended`` (its server or its exec ended it) is revocable while a
        credential it issued may still be valid (``credentials_expire_at``, else ``expires_at``,
        plus clock skew): the child, or anything it handed the credentials to, may still use
        them.
        Raises :class:`SessionNotFound` for an unknown id, a session already revoked, or an
        ended one whose credentials have all expired (the message says when).
        """
        cutoff = {"N": encode_time(at - CLOCK_SKEW)}
        try:
            with on_table(self.client, self.table, "UpdateItem"):
                resp = self.client.update_item(
                    TableName=self.table,
                    Key=_key(id),
                    UpdateExpression=(
                        "SET #s = :revoked, revoked_by = :by, "
                        "revoked_reason = :reason, revoked_at = :at"
                    ),
                    ConditionExpression=f"{_STILL_ACTIVE} OR ({_ENDED_BUT_LIVE})",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":revoked": {"S": "revoked"},
                        ":active": {"S": "active"},
                        ":expired": {"S": "expired"},
                        ":ended": {"S": "ended"},
                        ":cutoff": cutoff,
                        ":by": {"S": by},
                        ":reason": {"S": reason},
                        ":at": {"N": encode_time(at)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except SessionStoreError as exc:
            if not _is_conditional(exc):
                raise
            old = _failed_item(exc)
            if not old:
                raise SessionNotFound(
                    f"unknown session {id} in table {self.table!r}",
                    hint="List sessions with: sentinel server-sessions --status active",
                ) from None
            raise SessionNotFound(_not_revocable(id, old)) from None
        return self._decode(resp["Attributes"])

    # -- reads ------------------------------------------------------------------------------

    def get(self, id: str) -> SessionRecord | None:
        """The record for ``id`` (consistent read), or None (also for a ``block#`` id)."""
        if id.startswith(NOT_SESSIONS):
            return None
        self.read_calls += 1
        with on_table(self.client, self.table, "GetItem"):
            resp = self.client.get_item(TableName=self.table, Key=_key(id), ConsistentRead=True)
        item = resp.get("Item")
        return self._decode(item) if item else None

    def status(self, id: str) -> str | None:
        """The *stored* status of ``id`` (consistent read, status only), or None if unknown.

        Cheap enough for the server's revocation poller: one attribute, one item.
        """
        with on_table(self.client, self.table, "GetItem"):
            resp = self.client.get_item(
                TableName=self.table,
                Key=_key(id),
                ConsistentRead=True,
                ProjectionExpression="#s, revoked_at",
                ExpressionAttributeNames={"#s": "status"},
            )
        item = resp.get("Item")
        if not item or "status" not in item:
            return None
        if "revoked_at" in item:
            return "revoked"
        return str(item["status"]["S"])

    def batch_get(self, ids: Iterable[str]) -> dict[str, SessionRecord]:
        """Records for ``ids`` (deduplicated; unknown ids are absent from the result)."""
        unique = list(dict.fromkeys(i for i in ids if i and not i.startswith(NOT_SESSIONS)))
        found: dict[str, SessionRecord] = {}
        for start in range(0, len(unique), BATCH_LIMIT):
            chunk = unique[start : start + BATCH_LIMIT]
            self.read_calls += len(chunk)
            pending: dict[str, Any] = {self.table: {"Keys": [_key(i) for i in chunk]}}
            attempt = 0
            while pending:
                self.batch_calls += 1
                with on_table(self.client, self.table, "BatchGetItem"):
                    resp = self.client.batch_get_item(RequestItems=pending)
                for item in resp.get("Responses", {}).get(self.table, []):
                    if is_not_session(item):
                        continue
                    rec = self.decode_or_skip(item)
                    if rec is not None:
                        found[rec.id] = rec
                pending = {
                    k: v for k, v in (resp.get("UnprocessedKeys") or {}).items() if v.get("Keys")
                }
                if pending:
                    attempt += 1
                    if attempt > 8:
                        raise SessionStoreError(
                            f"dynamodb:BatchGetItem on session table {self.table!r} kept "
                            "returning unprocessed keys",
                            hint="Wait a moment and try again",
                        )
                    # Exponential backoff, as AWS recommends for UnprocessedKeys.
                    time.sleep(min(self._retry_delay * (2 ** (attempt - 1)), 2.0))
        return found

    def decode_or_skip(self, item: Item) -> SessionRecord | None:
        """The record, or None after reporting an unreadable item to ``on_unreadable``."""
        if self.on_unreadable is None:
            return self._decode(item)
        try:
            return SessionRecord.from_item(item)
        except UnreadableItem as exc:
            self.on_unreadable(exc)
            return None

    def _decode(self, item: Item) -> SessionRecord:
        try:
            return SessionRecord.from_item(item)
        except ValueError as exc:
            raise SessionStoreError(
                f"session table {self.table!r} holds an item Sentinel cannot read: {exc}",
                hint="Is this a Sentinel session table? Check it with 'sentinel init sessions "
                "--plan'",
            ) from None


def open_store(app: Context, table_flag: str | None, region_flag: str | None) -> SessionStore:
    """The store for the security team's commands: table from flag/env/config, region likewise."""

    table, _source = resolve_admin_table(table_flag, app.env, app.config())
    if not table:
        raise UsageError("no session table", hint="Pass --table or set defaults.session_table")
    region, _ = app.region(region_flag)
    return SessionStore(app.client("dynamodb", region), table)


def _key(id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": id}}


def _is_conditional(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and error_code(cause) == "ConditionalCheckFailedException"


def _not_revocable(id: str, old: Item) -> str:
    """Why a stored session could not be revoked; for an ended one, when its last credential
    expired."""
    if "revoked_at" in old:
        return f"session {id} is already revoked; nothing to revoke"
    state = old.get("status", {}).get("S", "unknown")
    if state in ("expired", "ended"):
        try:
            last = SessionRecord.from_item(old).credentials_end()
        except UnreadableItem:
            last = None
        if last is not None:
            return (
                f"session {id} has ended and the last credential it issued expired at "
                f"{iso(last)}; nothing to revoke"
            )
    return f"session {id} is already {state}; nothing to revoke"


def _failed_item(exc: BaseException) -> Item | None:
    cause = exc.__cause__
    resp = getattr(cause, "response", None)
    if isinstance(resp, dict):
        item = resp.get("Item")
        if isinstance(item, dict) and item:
            return item
    return None
