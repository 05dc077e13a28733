"""CloudTrail LookupEvents (JSON 1.1) served from the recorder's events.

Semantics follow the CloudTrail LookupEvents API reference: StartTime and EndTime are
both inclusive, at most one lookup attribute, MaxResults 1–50 (default 50), newest first, and a
NextToken is only valid with the parameters it was issued for. Without StartTime the lookback
is 90 days, as in CloudTrail's event history.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sentinelgw.sandbox.recorder import CloudTrailRecorder

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
ATTRIBUTE_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
LOOKBACK_SECONDS = 90 * 86400


@dataclass(frozen=True)
class LookupError_(Exception):
    """A CloudTrail client error: HTTP 400 with ``__type`` = ``code``."""

    code: str
    message: str


def handle_lookup(recorder: CloudTrailRecorder, body: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON payload) for one LookupEvents request body."""
    if recorder.take_lookup_call():
        return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
    try:
        req = json.loads(body or b"{}")
        if not isinstance(req, dict):
            raise LookupError_("SerializationException", "The request body must be an object")
        return 200, _lookup(recorder, req)
    except LookupError_ as err:
        return 400, {"__type": err.code, "message": err.message}
    except ValueError:
        return 400, {"__type": "SerializationException", "message": "Invalid JSON body"}


def _lookup(recorder: CloudTrailRecorder, req: dict[str, Any]) -> dict[str, Any]:
    attrs = req.get("LookupAttributes") or []
    if not isinstance(attrs, list) or len(attrs) > 1:
        raise LookupError_(
            "InvalidLookupAttributesException", "You can only specify one lookup attribute"
        )
    attr: tuple[str, str] | None = None
    if attrs:
        item = attrs[0] if isinstance(attrs[0], dict) else {}
        key, value = item.get("AttributeKey"), item.get("AttributeValue")
        if key not in ATTRIBUTE_KEYS or not isinstance(value, str) or not value:
            raise LookupError_(
                "InvalidLookupAttributesException",
                f"AttributeKey must be one of {', '.join(ATTRIBUTE_KEYS)} "
                "with a non-empty AttributeValue",
            )
        attr = (key, value)
    category = req.get("EventCategory")
    if category not in (None, "insight"):
        raise LookupError_("InvalidEventCategoryException", "EventCategory must be insight")
    max_results = req.get("MaxResults", 50)
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not (1 <= max_results <= 50)
    ):
        raise LookupError_("InvalidMaxResultsException", "MaxResults must be between 1 and 50")
    now = time.time()
    start = _epoch(req.get("StartTime"), "StartTime")
    end = _epoch(req.get("EndTime"), "EndTime")
    if start is not None and end is not None and start > end:
        raise LookupError_("InvalidTimeRangeException", "StartTime must be before EndTime")
    lo = start if start is not None else now - LOOKBACK_SECONDS
    fingerprint = _fingerprint(req)

    rows = recorder.snapshot()
    position: tuple[float, int] | None = None
    max_seq = max((seq for _, seq, _ in rows), default=0)
    token = req.get("NextToken")
    if token:
        position, max_seq = _read_token(token, fingerprint)

    selected: list[tuple[float, int, dict[str, Any]]] = []
    more = False
    for when, seq, ev in rows:
        if seq > max_seq:  # recorded after the first page: not part of this listing
            continue
        if position is not None and (when, seq) >= position:
            continue
        if when < lo or (end is not None and when > end):
            continue
        if category == "insight":  # the recorder holds management events only
            continue
        if attr is not None and not _matches(ev, attr):
            continue
        if len(selected) == max_results:
            more = True
            break
        selected.append((when, seq, ev))
    out: dict[str, Any] = {"Events": [_render(when, ev) for when, _, ev in selected]}
    if more:
        last = selected[-1]
        out["NextToken"] = _make_token((last[0], last[1]), max_seq, fingerprint)
    return out


def _epoch(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LookupError_("InvalidTimeRangeException", f"{name} must be a timestamp")
    return float(value)


def _fingerprint(req: dict[str, Any]) -> str:
    basis = {k: req.get(k) for k in ("StartTime", "EndTime", "LookupAttributes", "EventCategory")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _make_token(position: tuple[float, int], max_seq: int, fingerprint: str) -> str:
    raw = json.dumps({"p": [position[0], position[1]], "m": max_seq, "f": fingerprint})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _read_token(token: Any, fingerprint: str) -> tuple[tuple[float, int], int]:
    bad = LookupError_(
        "InvalidNextTokenException", "A token was provided that was not valid for these parameters"
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        pos = (float(data["p"][0]), int(data["p"][1]))
        max_seq, fp = int(data["m"]), str(data["f"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise bad from None
    if fp != fingerprint:
        raise bad
    return pos, max_seq


def username(ev: dict[str, Any]) -> str | None:
    """LookupEvents' ``Username``: the IAM user name, or the role session name."""
    ui = ev.get("userIdentity") or {}
    if ui.get("userName"):
        return str(ui["userName"])
    arn = str(ui.get("arn") or "")
    if ":assumed-role/" in arn:
        return arn.rsplit("/", 1)[-1]
    pid = str(ui.get("principalId") or "")
    return pid.split(":", 1)[1] if ":" in pid else (pid or None)


def _resources(ev: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for res in ev.get("resources") or []:
        if isinstance(res, dict) and res.get("ARN"):
            out.append({"ResourceType": str(res.get("type", "")), "ResourceName": str(res["ARN"])})
    return out


def _matches(ev: dict[str, Any], attr: tuple[str, str]) -> bool:
    key, value = attr
    if key == "EventId":
        return ev.get("eventID") == value
    if key == "EventName":
        return ev.get("eventName") == value
    if key == "EventSource":
        return ev.get("eventSource") == value
    if key == "ReadOnly":
        return _read_only(ev) == value.lower()
    if key == "Username":
        return username(ev) == value
    if key == "AccessKeyId":
        return (ev.get("userIdentity") or {}).get("accessKeyId") == value
    if key == "ResourceName":
        return any(r["ResourceName"] == value for r in _resources(ev))
    return any(r["ResourceType"] == value for r in _resources(ev))  # ResourceType


def _read_only(ev: dict[str, Any]) -> str:
    # Real events hold a boolean; synthetic ones may hold "true"/"false".
    value = ev.get("readOnly")
    if isinstance(value, str):
        return "true" if value.lower() == "true" else "false"
    return "true" if value else "false"


def _render(when: float, ev: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "EventId": ev.get("eventID"),
        "EventName": ev.get("eventName"),
        "ReadOnly": _read_only(ev),
        "EventTime": when,
        "EventSource": ev.get("eventSource"),
        "Resources": _resources(ev),
        "CloudTrailEvent": json.dumps(ev),
    }
    key = (ev.get("userIdentity") or {}).get("accessKeyId")
    if key:
        out["AccessKeyId"] = key
    name = username(ev)
    if name:
        out["Username"] = name
    return out
