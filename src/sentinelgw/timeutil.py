"""Durations (``15m``, ``7d``), points in time (``--since 7d``, ISO 8601) and ISO rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sentinelgw.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


ROLE_MIN_DURATION = 900  # STS refuses shorter role sessions
ROLE_MAX_DURATION = 12 * 3600  # the longest MaxSessionDuration a role can have


def role_duration_seconds(text: str | None) -> int | None:
    """``--duration`` in seconds (15m to 12h), or None when not given."""
    if text is None:
        return None
    seconds = int(parse_duration(text, what="--duration").total_seconds())
    if not ROLE_MIN_DURATION <= seconds <= ROLE_MAX_DURATION:
        raise UsageError(f"--duration {text} is out of range", hint="Use a value from 15m to 12h")
    return seconds


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w``, or a plain number of seconds."""
    raw = str(text).strip()
    if raw.isdigit():
        return timedelta(seconds=int(raw))
    m = _DURATION.match(raw)
    if not m:
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="Use a number with a unit, e.g. 90s, 15m, 12h, 7d or 2w",
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_point(text: str, *, now: datetime, what: str = "time") -> datetime:
    """A relative age (``7d`` meaning 7 days ago) or an ISO 8601 timestamp (UTC if naive)."""
    raw = str(text).strip()
    if _DURATION.match(raw):
        return now - parse_duration(raw, what=what)
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="Use an age such as 7d or 12h, or an ISO 8601 time such as 2026-01-24T09:00:00Z",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, second precision."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"
