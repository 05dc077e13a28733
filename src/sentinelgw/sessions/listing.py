"""Listing the session table, and what every call on it shares.

:class:`Listing` holds the queries behind ``SessionStore.query`` (the status rules are in
:mod:`sentinelgw.sessions.store`), streamed page by page; :func:`on_table` is the AWS error
boundary of every call on the table.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.errors import SessionStoreError, UsageError
from sentinelgw.sessions.model import STATUSES, Item, SessionRecord, encode_time

# Items per Query page. DynamoDB also caps a page at 1 MB, but moto and other emulators do not,
# and an uncapped page would make an export's memory grow with the partition size.
DEFAULT_PAGE_SIZE = 1000
BLOCK_PREFIX = "block#"  # user blocks share the table; see sentinelgw.sessions.blocks
# Access requests share it too, written only by the credential service
# (sentinelgw.service.requests); like blocks, they are never read as sessions.
REQUEST_PREFIX = "request#"
NOT_SESSIONS = (BLOCK_PREFIX, REQUEST_PREFIX)


def on_table(client: Any, table: str, operation: str) -> AbstractContextManager[None]:
    """:func:`~sentinelgw.awserrors.aws_call` for one call on the session table: failures are
    :class:`SessionStoreError`, and a missing table names the command that creates it."""
    region = getattr(getattr(client, "meta", None), "region_name", None) or "this region"
    return aws_call(
        "dynamodb",
        operation,
        f"session table {table!r} in {region}",
        raises=SessionStoreError,
        missing=f"Create it with: sentinel init sessions --table {table} --region {region}",
    )


def is_not_session(item: Item) -> bool:
    ident = item.get("id", {}).get("S", "") if isinstance(item, dict) else ""
    return isinstance(ident, str) and ident.startswith(NOT_SESSIONS)


class Listing:
    """The session table's listing queries, mixed into ``SessionStore``."""

    client: Any
    table: str

    def decode_or_skip(self, item: Item) -> SessionRecord | None:
        raise NotImplementedError

    def query(
        self,
        *,
        status: str | None = None,
        user: str | None = None,
        profile: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        now: datetime | None = None,
        page_size: int | None = None,
    ) -> Iterator[SessionRecord]:
        """Records matching every filter, newest ``started_at`` first, streamed page by page.

        The most selective key picks the index (user, then profile, then status); the other
        attribute filters run server side as a FilterExpression, the status filter client side
        because it is the effective status (see the module docstring).
        """
        if status is not None and status not in STATUSES:
            raise UsageError(f"invalid status {status!r}", hint=f"Use one of {', '.join(STATUSES)}")
        if limit is not None and limit <= 0:
            return
        now = now or datetime.now(UTC)
        extra: dict[str, str] = {}
        if user is not None:
            index, key_name, key_values = "user-index", "user", [user]
            if profile is not None:
                extra["profile"] = profile
        elif profile is not None:
            index, key_name, key_values = "profile-index", "profile", [profile]
        else:
            index, key_name = "status-index", "status"
            # Effective "expired" lives in two stored states; effective "active" only in one.
            # Effective "revoked" also covers an "active" record carrying revoked_at.
            key_values = {
                None: list(STATUSES),
                "expired": ["expired", "active"],
                "revoked": ["revoked", "active"],
            }.get(status, [status or "active"])
        # A small --limit needs no 1000-item pages; paging continues if filters drop items.
        size = min(page_size or DEFAULT_PAGE_SIZE, limit or DEFAULT_PAGE_SIZE)
        streams = [
            self._query_index(index, key_name, value, since, extra, size) for value in key_values
        ]
        if index == "status-index" and status is None:
            streams.append(self._unknown_statuses(since))
        merged: Iterator[SessionRecord] = (
            streams[0]
            if len(streams) == 1
            else heapq.merge(*streams, key=lambda r: r.started_at, reverse=True)
        )
        emitted = 0
        for rec in merged:
            if status is not None and rec.effective_status(now) != status:
                continue
            yield rec
            emitted += 1
            if limit is not None and emitted >= limit:
                return

    def _query_index(
        self,
        index: str,
        key_name: str,
        key_value: str,
        since: datetime | None,
        extra: dict[str, str],
        page_size: int,
    ) -> Iterator[SessionRecord]:
        names = {"#k": key_name}
        values: dict[str, dict[str, str]] = {":k": {"S": key_value}}
        condition = "#k = :k"
        if since is not None:
            names["#t"] = "started_at"
            values[":since"] = {"N": encode_time(since)}
            condition += " AND #t >= :since"
        req: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,  # newest first
        }
        filters = []
        for i, (attr, want) in enumerate(sorted(extra.items())):
            names[f"#f{i}"] = attr
            values[f":f{i}"] = {"S": want}
            filters.append(f"#f{i} = :f{i}")
        if filters:
            req["FilterExpression"] = " AND ".join(filters)
        req["ExpressionAttributeNames"] = names
        req["ExpressionAttributeValues"] = values
        req["Limit"] = page_size
        while True:
            with on_table(self.client, self.table, "Query"):
                resp = self.client.query(**req)
            for item in resp.get("Items", []):
                if is_not_session(item):
                    continue
                rec = self.decode_or_skip(item)
                if rec is not None:
                    yield rec
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            req["ExclusiveStartKey"] = last

    def _unknown_statuses(self, since: datetime | None) -> Iterator[SessionRecord]:
        """Records whose status Sentinel does not know, newest first.

        The status index has one partition per status value, and the writer of a record picks
        its status, so an unfiltered listing also scans that index for every other value. Only
        the matching items come back, so they are few; they are sorted here.
        """
        names = {"#s": "status"}
        values: dict[str, dict[str, str]] = {
            f":s{i}": {"S": known} for i, known in enumerate(STATUSES)
        }
        condition = f"NOT (#s IN ({', '.join(values)}))"
        if since is not None:
            names["#t"] = "started_at"
            values[":since"] = {"N": encode_time(since)}
            condition += " AND #t >= :since"
        req: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "status-index",
            "FilterExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        # No Limit: pages are DynamoDB's 1 MB of scanned items, and only matches come back.
        found: list[SessionRecord] = []
        while True:
            with on_table(self.client, self.table, "Scan"):
                resp = self.client.scan(**req)
            for item in resp.get("Items", []):
                rec = None if is_not_session(item) else self.decode_or_skip(item)
                if rec is not None:
                    found.append(rec)
            last = resp.get("LastEvaluatedKey")
            if not last:
                break
            req["ExclusiveStartKey"] = last
        found.sort(key=lambda r: r.started_at, reverse=True)
        yield from found
