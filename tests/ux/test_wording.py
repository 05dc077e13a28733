"""Counted nouns and the LookupEvents window warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinelgw.wording import LOOKUP_EVENTS_DAYS, counted, lookup_window_warning

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        (0, "page", "0 pages"),
        (1, "page", "1 page"),
        (1, "profile", "1 profile"),
        (2, "profile", "2 profiles"),
        (1, "entry", "1 entry"),
        (3, "entry", "3 entries"),
    ],
)
def test_counted(n: int, noun: str, expected: str) -> None:
    plural = "entries" if noun == "entry" else None
    assert counted(n, noun, plural) == expected


def test_lookup_window_warning() -> None:
    assert lookup_window_warning(NOW - timedelta(days=LOOKUP_EVENTS_DAYS), NOW) is None
    assert lookup_window_warning(NOW - timedelta(days=7), NOW) is None
    text = lookup_window_warning(NOW - timedelta(days=120), NOW)
    assert text is not None
    assert "120 days" in text and "only the last 90 days" in text and "2026-09-02" in text
