"""Small pieces of message wording shared by commands: counted nouns, CloudTrail's window."""

from __future__ import annotations

from datetime import datetime, timedelta

# CloudTrail LookupEvents returns management events of the last 90 days only.
LOOKUP_EVENTS_DAYS = 90


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 profile``, ``2 profiles``, ``0 pages`` (``plural`` for irregular nouns)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def lookup_window_warning(since: datetime, now: datetime) -> str | None:
    """A warning when ``since`` is older than LookupEvents can answer for, else None."""
    oldest = now - timedelta(days=LOOKUP_EVENTS_DAYS)
    if since >= oldest:
        return None
    days = (now - since).days
    return (
        f"--since reaches back {days} days, but CloudTrail LookupEvents keeps only the last "
        f"{LOOKUP_EVENTS_DAYS} days: events before {oldest:%Y-%m-%d} are not seen. "
        "Read them from the trail's S3 log files instead"
    )
