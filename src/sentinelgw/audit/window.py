"""The audit window and the progress callback, shared by the sources and the readers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Window:
    """The audit window; both ends inclusive, as LookupEvents' StartTime/EndTime are."""

    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at <= self.end

    def delivery_days(self) -> tuple[date, date]:
        """Date folders that can hold the window's events.

        A file lands in the folder of its *delivery* time, about 5 minutes (not guaranteed)
        after its events, so events of the last minutes of a day may sit in the next day's
        folder: read one extra day.
        """
        return self.start.date(), (self.end + timedelta(days=1)).date()
