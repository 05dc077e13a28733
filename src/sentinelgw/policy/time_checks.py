"""Validating a rule's ``time:`` window (days, hours, timezone), every problem with its path.

:class:`TimeChecks` is the part of the policy loader's checker that reads ``time:``; the
loader's ``_Checker`` adds the rest and the ``problem`` that records each message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sentinelgw.policy.model import DAY_NAMES, TimeWindow
from sentinelgw.yamlsrc import Path

TIME_KEYS = ("days", "hours", "timezone")
HOURS_KEYS = ("start", "end")
_DAYS = {name: i for i, name in enumerate(DAY_NAMES)} | {
    name[:3]: i for i, name in enumerate(DAY_NAMES)
}
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def suggest(word: str, allowed: Iterable[str]) -> str:
    import difflib  # only on the error path: keeps start-up lean

    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class TimeChecks:
    """The ``time:`` checks; the class mixing it in provides ``problems`` and ``problem``."""

    problems: list[str]

    def problem(self, path: Path, message: str) -> None:
        raise NotImplementedError

    def time(self, value: Any, path: Path) -> TimeWindow | None:
        if not isinstance(value, dict) or not value:
            self.problem(
                path,
                "'time' must be a mapping with 'days' and/or 'hours' (and an "
                f"optional 'timezone'), not {show(value)}",
            )
            return None
        before = len(self.problems)
        for key in value:
            if key not in TIME_KEYS:
                self.problem(
                    (*path, key),
                    f"unknown time key '{key}'{suggest(key, TIME_KEYS)}; "
                    f"allowed: {', '.join(TIME_KEYS)}",
                )
        if "days" not in value and "hours" not in value:
            self.problem(path, "'time' needs 'days' and/or 'hours'")
        days = self.days(value["days"], (*path, "days")) if "days" in value else None
        start = end = None
        if "hours" in value:
            start, end = self.hours(value["hours"], (*path, "hours"))
        tz_name = "UTC"
        zone = None
        if value.get("timezone") is not None:
            tz = value["timezone"]
            if not isinstance(tz, str) or not tz.strip():
                self.problem(
                    (*path, "timezone"),
                    f"'timezone' must be an IANA zone name such as Europe/Berlin, not {show(tz)}",
                )
            else:
                tz_name = tz.strip()
                zone = self.zone(tz_name, (*path, "timezone"))
        else:
            zone = ZoneInfo("UTC")
        if len(self.problems) > before or zone is None:
            return None
        return TimeWindow(days=days, start=start, end=end, timezone=tz_name, zone=zone)

    def zone(self, name: str, path: Path) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys, OSError
            import zoneinfo

            try:
                known = zoneinfo.available_timezones()
            except Exception:
                known = set()
            self.problem(
                path,
                f"unknown timezone {show(name)}{suggest(name, known)}; use an "
                "IANA name such as UTC, Europe/Berlin or America/New_York",
            )
            return None

    def days(self, value: Any, path: Path) -> frozenset[int] | None:
        values = value if isinstance(value, list) else [value]
        allowed = "monday..sunday or mon..sun"
        if not values:
            self.problem(path, f"'days' is an empty list; omit it to match any day ({allowed})")
            return None
        out: set[int] = set()
        ok = True
        for i, v in enumerate(values):
            where = (*path, i) if isinstance(value, list) else path
            key = v.strip().lower() if isinstance(v, str) else None
            if key is None or key not in _DAYS:
                shown = suggest(key, _DAYS) if key else ""
                self.problem(where, f"unknown day {show(v)}{shown}; allowed: {allowed}")
                ok = False
            else:
                out.add(_DAYS[key])
        return frozenset(out) if ok else None

    def hours(self, value: Any, path: Path) -> tuple[int | None, int | None]:
        if not isinstance(value, dict):
            self.problem(
                path,
                f'\'hours\' must be a mapping {{start: "HH:MM", end: "HH:MM"}}, not {show(value)}',
            )
            return None, None
        for key in value:
            if key not in HOURS_KEYS:
                self.problem(
                    (*path, key),
                    f"unknown hours key '{key}'{suggest(key, HOURS_KEYS)}; allowed: start, end",
                )
        start = self.clock(value, path, "start")
        end = self.clock(value, path, "end")
        if start is not None and end is not None and start == end:
            self.problem(
                path,
                f"hours start and end are both {value['start']}; the window "
                "would be empty (omit 'hours' to match the whole day)",
            )
            return None, None
        return start, end

    def clock(self, value: dict[str, Any], path: Path, key: str) -> int | None:
        if key not in value:
            self.problem(path, f"'hours' needs '{key}' (\"HH:MM\")")
            return None
        raw = value[key]
        where = (*path, key)
        if isinstance(raw, int) and not isinstance(raw, bool):
            # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080.
            self.problem(
                where,
                f'hours.{key} must be a quoted "HH:MM" string such as '
                f'"18:00"; YAML read {raw!r} as a number',
            )
            return None
        m = _HHMM.match(raw) if isinstance(raw, str) else None
        if m is not None:
            h, mi = int(m.group(1)), int(m.group(2))
            if (h < 24 and mi < 60) or (key == "end" and h == 24 and mi == 0):
                return h * 60 + mi
        self.problem(
            where,
            f'invalid time {show(raw)} for hours.{key}; use "HH:MM" from '
            "00:00 to 23:59 (end may be 24:00)",
        )
        return None
