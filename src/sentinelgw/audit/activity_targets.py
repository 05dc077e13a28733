"""The sessions whose activity is wanted: their records, found by session id, or by the id of
an access request or a break-glass grant (every session started under it), and the window to
read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sentinelgw.awsclients import translate
from sentinelgw.errors import AuditError, UsageError
from sentinelgw.sessions.model import is_session_id
from sentinelgw.sessions.store import REQUEST_PREFIX
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.sessions.model import SessionRecord

# How long after a session's end its credentials (and those chained from it) may still be used:
# STS credentials last at least 15 minutes and a chained role session at most 1 hour.
AFTER_END = timedelta(hours=2)
BEFORE_START = timedelta(minutes=1)  # clock skew between the recording host and AWS


@dataclass(frozen=True, slots=True)
class SessionTarget:
    """One session whose activity is wanted, as its record describes it."""

    id: str
    user: str
    profile: str
    role_arn: str
    source_identity: str
    access_key_ids: tuple[str, ...]
    started_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, record: SessionRecord) -> SessionTarget:
        return cls(
            record.id,
            record.user,
            record.profile,
            record.role_arn,
            record.source_identity,
            tuple(record.access_key_ids),
            record.started_at,
            max(record.expires_at, record.last_access_at),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "profile": self.profile,
            "role_arn": self.role_arn,
            "source_identity": self.source_identity,
            "access_key_ids": list(self.access_key_ids),
            "started_at": iso(self.started_at),
            "expires_at": iso(self.expires_at),
        }


def grant_sessions(store: Any, grant_id: str) -> list[str] | None:
    """The sessions started under the access request or break-glass grant ``grant_id`` (the
    item the credential service writes), or None when there is no such item."""

    try:
        item = store.client.get_item(
            TableName=store.table,
            Key={"id": {"S": REQUEST_PREFIX + grant_id}},
            ConsistentRead=True,
        ).get("Item")
    except Exception as exc:
        raise translate(exc, "dynamodb", "GetItem", store.table) from None
    if not item:
        return None
    raw = item.get("req_sessions", {}).get("L", [])
    values = [v.get("S") for v in raw if isinstance(v, dict)]
    return [v for v in values if isinstance(v, str) and is_session_id(v)]


def session_targets(store: Any, ids: Sequence[str]) -> list[SessionTarget]:
    """The records of ``ids`` (each once, in the order given): session ids, or the id of an
    access request or break-glass grant, which stands for every session started under it. An
    unknown id is an error."""

    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise UsageError("no session id given", hint="Pass one or more session ids")
    for sid in wanted:
        if not is_session_id(sid):
            raise UsageError(
                f"{sid!r} is not a session id (16 lowercase hex characters)",
                hint="List sessions with: sentinel server-sessions",
            )
    found = store.batch_get(wanted)
    missing = [sid for sid in wanted if sid not in found]
    if missing:  # an access request's or break-glass grant's id: all its sessions
        grants = {sid: grant_sessions(store, sid) for sid in missing}
        unknown = [sid for sid, sessions in grants.items() if sessions is None]
        if unknown:
            raise UsageError(
                f"unknown session {', '.join(unknown)} in table {store.table!r} (nor a "
                "request or break-glass id)",
                hint="List sessions with: sentinel server-sessions --since 90d",
            )
        empty = [sid for sid, sessions in grants.items() if not sessions]
        if empty:
            raise UsageError(
                f"{', '.join(empty)} started no session, so it made no calls",
                hint="Its sessions are listed by: sentinel breakglass-show ID or requests",
            )
        expanded = []
        for sid in wanted:
            expanded += grants.get(sid) or [sid]
        wanted = list(dict.fromkeys(expanded))
        found.update(store.batch_get([sid for sid in wanted if sid not in found]))
        gone = [sid for sid in wanted if sid not in found]
        if gone:
            raise UsageError(
                f"session {', '.join(gone)} of the request or grant is not in table "
                f"{store.table!r} any more (past its retention)",
                hint="Ask for the remaining sessions by their ids",
            )
    return [SessionTarget.of(found[sid]) for sid in wanted]


def default_window(targets: Sequence[SessionTarget], now: datetime) -> tuple[datetime, datetime]:
    """From just before the first session started to two hours after the last one ended."""
    start = min(t.started_at for t in targets) - BEFORE_START
    end = min(now, max(t.expires_at for t in targets) + AFTER_END)
    return start, max(start, end)


def no_keys_warning(targets: Sequence[SessionTarget], lookup: bool) -> list[str]:
    """Warnings for sessions whose record kept no access key ids (LookupEvents needs them)."""
    out = []
    for t in targets:
        if t.access_key_ids:
            continue
        if lookup:
            out.append(
                f"session {t.id} has no recorded access keys (its record predates them, or no "
                "credentials were issued): LookupEvents cannot find its calls; read them by "
                "SourceIdentity with --source DIR, s3://... or athena:DB.TABLE"
            )
    if lookup and out and len(out) == len(targets):
        raise AuditError(
            "no session has recorded access keys, so LookupEvents cannot find their calls",
            hint="Read them by SourceIdentity with --source DIR, s3://bucket/prefix or "
            "athena:DATABASE.TABLE",
        )
    return out
