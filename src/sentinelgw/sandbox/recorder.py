"""The sandbox's CloudTrail recorder: AssumeRole calls become CloudTrail management events.

Moto has no CloudTrail event history, so the sandbox records every successful STS AssumeRole
that passes through it, in the shape CloudTrail documents for AssumeRole events, and serves the
events through LookupEvents (:mod:`sentinelgw.sandbox.lookup`). Every other call signed with a
key the sandbox issued through AssumeRole is recorded too (:mod:`sentinelgw.sandbox.calls`),
so a session's activity can be audited.

Unlike real CloudTrail, the recorder never stores ``responseElements.credentials.sessionToken``:
the sandbox must not put a secret into anything that looks like a log.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.sandbox.calls import call_event
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.sandbox.calls import ApiCall

# CloudTrail writes the AssumeRole credential expiry in this human form, not in ISO 8601
# (as in the example of the CloudTrail userIdentity element reference).
_CT_EXPIRATION_FORMAT = "%b %d, %Y %I:%M:%S %p"


@dataclass(frozen=True)
class Identity:
    """Who owns an access key, as CloudTrail's ``userIdentity`` describes it."""

    type: str  # "IAMUser" | "AssumedRole" | "Unknown"
    principal_id: str
    arn: str
    account_id: str
    user_name: str | None = None
    source_identity: str | None = None
    issuer_role_arn: str | None = None
    issuer_principal_id: str | None = None
    created_at: str | None = None

    def user_identity(self, access_key_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "principalId": self.principal_id,
            "arn": self.arn,
            "accountId": self.account_id,
            "accessKeyId": access_key_id,
        }
        if self.type == "IAMUser" and self.user_name:
            out["userName"] = self.user_name
        if self.type == "AssumedRole":
            ctx: dict[str, Any] = {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": (self.issuer_principal_id or self.principal_id).split(":")[0],
                    "arn": self.issuer_role_arn or "",
                    "accountId": self.account_id,
                    "userName": (self.issuer_role_arn or "").rsplit("/", 1)[-1],
                },
                "attributes": {"creationDate": self.created_at or "", "mfaAuthenticated": "false"},
            }
            if self.source_identity:
                ctx["sourceIdentity"] = self.source_identity
            out["sessionContext"] = ctx
        return out


@dataclass(frozen=True)
class AssumeRoleCall:
    """What the middleware saw of one successful AssumeRole (request and parsed response)."""

    caller_access_key_id: str
    region: str
    source_ip: str
    user_agent: str
    role_arn: str
    role_session_name: str
    duration_seconds: int
    source_identity: str | None
    external_id: str | None
    new_access_key_id: str
    expiration: datetime
    assumed_role_id: str
    assumed_role_arn: str
    request_id: str | None = None


class CloudTrailRecorder:
    """Thread-safe store of CloudTrail events plus the access-key → identity map.

    ``resolve`` is called for an access key the recorder has not seen (it asks moto who the key
    belongs to); its answer is cached.
    """

    def __init__(self, account_id: str, resolve: Callable[[str], Identity | None] | None = None):
        self.account_id = account_id
        self._resolve = resolve
        self._lock = threading.Lock()
        self._events: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = itertools.count(1)
        self._keys: dict[str, Identity] = {}
        self._issued: set[str] = set()  # keys the sandbox issued through STS AssumeRole
        self._throttle = 0
        self.lookup_calls = 0

    # -- public API used by tests --------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """All events, oldest first (copies)."""
        with self._lock:
            rows = sorted(self._events, key=lambda r: (r[0], r[1]))
            return [dict(ev) for _, _, ev in rows]

    def add_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store a (synthetic) event; fills ``eventID`` and ``eventTime`` when missing."""
        ev = dict(event)
        ev.setdefault("eventVersion", "1.08")
        ev.setdefault("eventID", str(uuid.uuid4()))
        ev.setdefault("eventTime", iso(datetime.now(UTC)))
        when = parse_event_time(str(ev["eventTime"]))
        with self._lock:
            self._events.append((when, next(self._seq), ev))
        return ev

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._throttle = 0
            self.lookup_calls = 0

    def throttle_next(self, n: int) -> None:
        """The next ``n`` LookupEvents calls get a ThrottlingException."""
        with self._lock:
            self._throttle = max(0, int(n))

    # -- used by the middleware and the lookup handler ---------------------------------

    def register_key(self, access_key_id: str, identity: Identity) -> None:
        with self._lock:
            self._keys[access_key_id] = identity

    def known_identity(self, access_key_id: str) -> Identity | None:
        """The identity of a key the recorder has seen, without asking moto."""
        with self._lock:
            return self._keys.get(access_key_id)

    def identity_for(self, access_key_id: str) -> Identity:
        with self._lock:
            known = self._keys.get(access_key_id)
        if known is not None:
            return known
        found = self._resolve(access_key_id) if self._resolve and access_key_id else None
        if found is None:
            return Identity(
                type="Unknown",
                principal_id=access_key_id or "anonymous",
                arn="",
                account_id=self.account_id,
            )
        self.register_key(access_key_id, found)
        return found

    def take_lookup_call(self) -> bool:
        """Count a LookupEvents call; True when this one must be throttled."""
        with self._lock:
            self.lookup_calls += 1
            if self._throttle > 0:
                self._throttle -= 1
                return True
            return False

    def snapshot(self) -> list[tuple[float, int, dict[str, Any]]]:
        """(epoch, seq, event) rows, newest first, as LookupEvents returns them."""
        with self._lock:
            return sorted(self._events, key=lambda r: (r[0], r[1]), reverse=True)

    def record_assume_role(self, call: AssumeRoleCall) -> dict[str, Any]:
        """Turn one successful AssumeRole into a stored CloudTrail event."""
        caller = self.identity_for(call.caller_access_key_id)
        # A chained session keeps the source identity of the session that created it.
        source_identity = call.source_identity or caller.source_identity
        now = datetime.now(UTC)
        params: dict[str, Any] = {
            "roleArn": call.role_arn,
            "roleSessionName": call.role_session_name,
            "durationSeconds": call.duration_seconds,
        }
        if call.source_identity:
            params["sourceIdentity"] = call.source_identity
        if call.external_id:
            params["externalId"] = call.external_id
        response: dict[str, Any] = {
            "credentials": {
                "accessKeyId": call.new_access_key_id,
                "expiration": call.expiration.astimezone(UTC).strftime(_CT_EXPIRATION_FORMAT),
            },
            "assumedRoleUser": {
                "assumedRoleId": call.assumed_role_id,
                "arn": call.assumed_role_arn,
            },
        }
        if source_identity:
            response["sourceIdentity"] = source_identity
        event: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": caller.user_identity(call.caller_access_key_id),
            "eventTime": iso(now),
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRole",
            "awsRegion": call.region,
            "sourceIPAddress": call.source_ip,
            "userAgent": call.user_agent,
            "requestParameters": params,
            "responseElements": response,
            "requestID": call.request_id or str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "resources": [
                {
                    "accountId": _account_of(call.role_arn, self.account_id),
                    "type": "AWS::IAM::Role",
                    "ARN": call.role_arn,
                }
            ],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        }
        session = Identity(
            type="AssumedRole",
            principal_id=call.assumed_role_id,
            arn=call.assumed_role_arn,
            account_id=_account_of(call.role_arn, self.account_id),
            source_identity=source_identity,
            issuer_role_arn=call.role_arn,
            issuer_principal_id=call.assumed_role_id,
            created_at=iso(now),
        )
        self.register_key(call.new_access_key_id, session)
        with self._lock:
            self._issued.add(call.new_access_key_id)
        return self.add_event(event)

    def is_issued(self, access_key_id: str) -> bool:
        """True for a key the sandbox issued through STS AssumeRole: its calls are recorded."""
        with self._lock:
            return access_key_id in self._issued

    def record_call(self, call: ApiCall) -> dict[str, Any]:
        """Store any API call made with an issued key as a CloudTrail event."""
        caller = self.identity_for(call.access_key_id)
        return self.add_event(
            call_event(call, caller.user_identity(call.access_key_id), self.account_id)
        )

    def register_session(self, access_key_id: str, identity: Identity) -> None:
        """Attribute a session the sandbox made itself (the SSO portal) without an event."""
        self.register_key(access_key_id, replace(identity, created_at=iso(datetime.now(UTC))))


def parse_event_time(text: str) -> float:
    """Epoch seconds of a CloudTrail ``eventTime`` (ISO 8601, ``Z`` or offset)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _account_of(arn: str, fallback: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else fallback
