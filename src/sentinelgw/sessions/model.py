"""The session record: one DynamoDB item per server session.

Item encoding (the low-level client format, written by hand so no boto3 import is needed and
a 100k-record export does not pay for TypeDeserializer's Decimal round trips):

- strings are ``S``; ``request_count`` and ``ttl`` are ``N`` integers;
- timestamps are ``N`` epoch seconds (at most millisecond precision), so ``started_at`` can be
  the sort key of every GSI and ``--since`` is a plain key condition;
- optional attributes (``revoked_*``, an empty ``host``/``source_identity``/
  ``server_instance_id``) are left out of the item rather than stored empty: DynamoDB refuses
  empty strings in GSI key attributes, and a sparse index is exactly what we want for them.

``ttl`` is epoch seconds at which DynamoDB may delete the item: the latest moment the session
could end (``expires_at``) plus the retention period, so an audit over CloudTrail's 90-day
window still finds the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinelgw.config import DEFAULT_RETENTION_DAYS
from sentinelgw.timeutil import iso

# How long past its expiry a credential is still treated as live (clock skew between hosts).
CLOCK_SKEW = timedelta(minutes=5)
# "ended": a remote exec session its exec (or its user) ended through the credential service.
STATUSES = ("active", "revoked", "expired", "ended")

EXPORT_FIELDS: tuple[str, ...] = (
    "id",
    "user",
    "profile",
    "role_arn",
    "status",
    "started_at",
    "last_access_at",
    "expires_at",
    "request_count",
    "server_instance_id",
    "source_identity",
    "host",
    "revoked_by",
    "revoked_reason",
    "revoked_at",
    "end_reason",
    "credentials_expire_at",
    "request_id",
    "breakglass_id",
)

_ID = re.compile(r"^[0-9a-f]{16}$")
_TIME_FIELDS = ("started_at", "last_access_at", "expires_at")
_STR_FIELDS = (
    "user",
    "profile",
    "role_arn",
    "status",
    "server_instance_id",
    "source_identity",
    "host",
)
_OPTIONAL_STR = ("revoked_by", "revoked_reason", "end_reason", "request_id", "breakglass_id")

Item = dict[str, dict[str, Any]]


def is_session_id(value: str) -> bool:
    """True for 16 lowercase hex characters, the shape of every session id."""
    return bool(_ID.match(value))


def retention_ttl(expires_at: datetime, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """The ``ttl`` value for a session that can last until ``expires_at``."""
    return int((expires_at + timedelta(days=retention_days)).timestamp())


def encode_time(dt: datetime) -> str:
    """Epoch seconds as a DynamoDB number string, millisecond precision, no trailing zeros."""
    if dt.tzinfo is None:
        raise ValueError("session timestamps must be timezone-aware")
    text = f"{dt.timestamp():.3f}".rstrip("0").rstrip(".")
    return text or "0"


def decode_time(value: str) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One server session as stored in the session table.

    ``status`` is what is stored; :meth:`effective_status` is what a reader should show,
    because a server killed with SIGKILL never gets to mark its record expired.
    """

    id: str
    user: str
    profile: str
    role_arn: str
    status: str
    started_at: datetime
    last_access_at: datetime
    expires_at: datetime
    request_count: int
    server_instance_id: str
    source_identity: str
    host: str
    revoked_by: str | None = None
    revoked_reason: str | None = None
    revoked_at: datetime | None = None
    # Why an ended session ended ("the command exited with status 0", "the server did not
    # start: ..."); None while active, when revoked, or when the server was killed.
    end_reason: str | None = None
    # The approved access request a require_approval session was started under (issue 21).
    request_id: str | None = None
    # The break-glass grant it was started under (issue 22): marked wherever sessions show.
    breakglass_id: str | None = None
    ttl: int = field(kw_only=True)
    # The latest expiry of any credential issued for the session (STS's own expiry, which can
    # pass expires_at: STS issues at least 15 minutes). None for records that do not say.
    credentials_expire_at: datetime | None = field(default=None, kw_only=True)
    # The access key ids of the credentials issued for the session (a string set, added to as
    # they are issued), so ``sentinel audit session-activity`` can look its calls up by key.
    access_key_ids: tuple[str, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if not is_session_id(self.id):
            raise ValueError(f"session id must be 16 lowercase hex characters, got {self.id!r}")
        # Any other writer of the table may store a status Sentinel does not know; it is kept
        # and shown as it is, so such a record can never hide from a listing or an audit.
        if not self.status:
            raise ValueError("session status must not be empty")
        if not self.user or not self.profile:
            raise ValueError("session user and profile must not be empty")
        for name in (*_TIME_FIELDS, "revoked_at", "credentials_expire_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"session {name} must be timezone-aware")

    @classmethod
    def new(
        cls,
        *,
        id: str,
        user: str,
        profile: str,
        role_arn: str,
        started_at: datetime,
        expires_at: datetime,
        server_instance_id: str,
        source_identity: str,
        host: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> SessionRecord:
        """A fresh ``active`` record with no requests yet and the retention TTL filled in."""
        return cls(
            id=id,
            user=user,
            profile=profile,
            role_arn=role_arn,
            status="active",
            started_at=started_at,
            last_access_at=started_at,
            expires_at=expires_at,
            request_count=0,
            server_instance_id=server_instance_id,
            source_identity=source_identity,
            host=host,
            ttl=retention_ttl(expires_at, retention_days),
        )

    def effective_status(self, now: datetime) -> str:
        """``active`` past ``expires_at`` reads as ``expired`` (left behind by a killed server).

        A record with ``revoked_at`` reads as ``revoked`` whatever its ``status`` says: a
        revocation is never undone, not even by rewriting the attribute.
        """
        if self.revoked_at is not None:
            return "revoked"
        if self.status == "active" and self.expires_at < now:
            return "expired"
        return self.status

    def credentials_end(self) -> datetime:
        """When the last credential issued for the session stops working (at the latest).

        The recorded ``credentials_expire_at`` when the record has it, else ``expires_at``.
        """
        if self.credentials_expire_at is None:
            return self.expires_at
        return max(self.expires_at, self.credentials_expire_at)

    def credentials_may_be_live(self, now: datetime) -> bool:
        """True while a credential the session issued may still be valid (clock skew allowed),
        whatever the stored status: a session that ended early may have handed out
        credentials that outlive it."""
        return now <= self.credentials_end() + CLOCK_SKEW

    def with_status(self, status: str, **changes: Any) -> SessionRecord:
        return replace(self, status=status, **changes)

    def to_export(self, now: datetime) -> dict[str, Any]:
        """The EXPORT_FIELDS, timestamps ISO 8601 UTC, status as :meth:`effective_status`."""
        return {
            "id": self.id,
            "user": self.user,
            "profile": self.profile,
            "role_arn": self.role_arn,
            "status": self.effective_status(now),
            "started_at": iso(self.started_at),
            "last_access_at": iso(self.last_access_at),
            "expires_at": iso(self.expires_at),
            "request_count": self.request_count,
            "server_instance_id": self.server_instance_id,
            "source_identity": self.source_identity,
            "host": self.host,
            "revoked_by": self.revoked_by,
            "revoked_reason": self.revoked_reason,
            "revoked_at": iso(self.revoked_at),
            "end_reason": self.end_reason,
            "credentials_expire_at": iso(self.credentials_expire_at),
            "request_id": self.request_id,
            "breakglass_id": self.breakglass_id,
        }

    def to_item(self) -> Item:
        """The item in the low-level client format (``{"id": {"S": ...}, ...}``)."""
        item: Item = {"id": {"S": self.id}}
        for name in _STR_FIELDS:
            value = getattr(self, name)
            if value:
                item[name] = {"S": value}
        for name in _OPTIONAL_STR:
            value = getattr(self, name)
            if value is not None:
                item[name] = {"S": value}
        for name in _TIME_FIELDS:
            item[name] = {"N": encode_time(getattr(self, name))}
        if self.revoked_at is not None:
            item["revoked_at"] = {"N": encode_time(self.revoked_at)}
        if self.credentials_expire_at is not None:
            item["credentials_expire_at"] = {"N": encode_time(self.credentials_expire_at)}
        item["request_count"] = {"N": str(int(self.request_count))}
        item["ttl"] = {"N": str(int(self.ttl))}
        if self.access_key_ids:
            item["access_key_ids"] = {"SS": sorted(set(self.access_key_ids))}
        return item

    @classmethod
    def from_item(cls, item: Item) -> SessionRecord:
        """Decode an item read with the low-level client.

        Raises :class:`UnreadableItem` (a ValueError) for an item that is not a session record
        Sentinel can read: a missing or mistyped attribute, a malformed id or timestamp.
        """
        try:
            revoked_at = item.get("revoked_at")
            creds_end = item.get("credentials_expire_at")
            return cls(
                id=item["id"]["S"],
                user=item["user"]["S"],
                profile=item["profile"]["S"],
                role_arn=_s(item, "role_arn") or "",
                status=item["status"]["S"],
                started_at=decode_time(item["started_at"]["N"]),
                last_access_at=decode_time((item.get("last_access_at") or item["started_at"])["N"]),
                expires_at=decode_time(item["expires_at"]["N"]),
                request_count=int(_n(item, "request_count") or "0"),
                server_instance_id=_s(item, "server_instance_id") or "",
                source_identity=_s(item, "source_identity") or "",
                host=_s(item, "host") or "",
                revoked_by=_s(item, "revoked_by"),
                revoked_reason=_s(item, "revoked_reason"),
                revoked_at=decode_time(revoked_at["N"]) if revoked_at else None,
                end_reason=_s(item, "end_reason"),
                request_id=_s(item, "request_id"),
                breakglass_id=_s(item, "breakglass_id"),
                # Decimal-free: DynamoDB numbers arrive as strings; a float-looking ttl is
                # tolerated because other writers may use TypeSerializer with Decimals.
                ttl=int(float(_n(item, "ttl") or "0")),
                credentials_expire_at=decode_time(creds_end["N"]) if creds_end else None,
                access_key_ids=_ss(item, "access_key_ids"),
            )
        except KeyError as exc:
            raise UnreadableItem(item_id(item), f"is missing attribute {exc}") from None
        except (TypeError, ValueError, AttributeError, OverflowError, OSError) as exc:
            raise UnreadableItem(item_id(item), f"is malformed ({exc})") from None


class UnreadableItem(ValueError):
    """A table item that is not a session record Sentinel can read.

    ``item_id`` is the item's ``id`` string as stored (untrusted: render it inert), or ``?``.
    """

    def __init__(self, item_id: str, why: str) -> None:
        super().__init__(f"session item '{item_id}' {why}")
        self.item_id = item_id
        self.why = why


def item_id(item: object) -> str:
    """The ``id`` string of a raw item, or ``?`` when it has none."""
    if isinstance(item, dict):
        value = item.get("id")
        if isinstance(value, dict) and isinstance(value.get("S"), str):
            return str(value["S"])
    return "?"


def _s(item: Item, name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value["S"], str):
        raise TypeError(f"{name} is not a string")
    return value["S"]


def _ss(item: Item, name: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    keys = value["SS"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"{name} is not a string set")
    return tuple(sorted(keys))


def _n(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["N"])
