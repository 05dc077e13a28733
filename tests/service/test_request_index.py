"""The request index read by the sweep (``RequestTable.open``): a request stored in a final
state is read once per process, not on every sweep, and a week-old one still leaves the index.
The table is a dict behind DynamoDB's item API, counting the keys each BatchGetItem reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sentinelgw.service.request_table import RequestTable
from sentinelgw.service.requests import INDEX_ID, INDEX_KEEP, AccessRequest

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


class _Ddb:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.read: list[list[str]] = []  # the request ids of each BatchGetItem

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item else {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        [(table, ask)] = RequestItems.items()
        ids = [k["id"]["S"] for k in ask["Keys"]]
        self.read.append([i.split("#", 1)[1] for i in ids])
        return {"Responses": {table: [self.items[i] for i in ids if i in self.items]}}

    def update_item(self, Key: dict[str, Any], UpdateExpression: str, **kw: Any) -> None:  # noqa: N803
        ids = set(
            kw["ExpressionAttributeValues"][":id" if "ADD" in UpdateExpression else ":ids"]["SS"]
        )
        index = self.items.setdefault(INDEX_ID, {"id": {"S": INDEX_ID}, "req_ids": {"SS": []}})
        now = set(index["req_ids"]["SS"])
        index["req_ids"]["SS"] = sorted(now | ids if "ADD" in UpdateExpression else now - ids)

    def put_item(self, Item: dict[str, Any], **_: Any) -> None:  # noqa: N803
        self.items[Item["id"]["S"]] = Item


def _request(n: int, status: str, created: datetime) -> AccessRequest:
    return AccessRequest(
        id=f"{n:016x}",
        requester="alice",
        requester_arn="arn:aws:iam::123456789012:user/alice",
        profile="prod",
        role_arn="arn:aws:iam::123456789012:role/prod",
        justification="x" * 20,
        duration=timedelta(hours=1),
        status=status,
        created_at=created,
        pending_until=created + timedelta(hours=1),
    )


def test_final_requests_are_read_once_and_a_week_old_one_leaves_the_index() -> None:
    ddb = _Ddb()
    table = RequestTable(ddb, "sessions")
    pending = _request(1, "pending", NOW)
    denied = _request(2, "denied", NOW)
    ended = _request(3, "expired", NOW - INDEX_KEEP + timedelta(hours=1))
    for request in (pending, denied, ended):
        table.create(request)

    assert [r.id for r in table.open(NOW)] == [pending.id]
    assert ddb.read == [[pending.id, denied.id, ended.id]]
    # The next sweeps read only what may still change.
    assert [r.id for r in table.open(NOW)] == [pending.id]
    assert ddb.read[1:] == [[pending.id]]
    # Once the pending one is closed, it is read one more time and then no more.
    ddb.put_item({**pending.to_item(), **_request(1, "expired", NOW).to_item()})
    assert table.open(NOW) == []
    assert table.open(NOW) == []
    assert ddb.read[2:] == [[pending.id]]  # nothing left to read: no BatchGetItem at all
    # Two hours later the old one is past INDEX_KEEP: unlisted, without being read again.
    assert table.open(NOW + timedelta(hours=2)) == []
    assert ended.id not in ddb.items[INDEX_ID]["req_ids"]["SS"]
    assert len(ddb.read) == 3
    # Listing still shows every request the index holds.
    assert {r.id for r in table.all()} == {pending.id, denied.id}


def test_a_final_request_another_process_unlisted_is_forgotten() -> None:
    ddb = _Ddb()
    table = RequestTable(ddb, "sessions")
    denied = _request(2, "denied", NOW)
    table.create(denied)
    assert table.open(NOW) == []
    ddb.update_item(
        Key={},
        UpdateExpression="DELETE req_ids :ids",
        ExpressionAttributeValues={":ids": {"SS": [denied.id]}},
    )
    assert table.open(NOW) == [] and table._final_seen == {}
