"""Warnings that repeat (a refusing client loop, a session table outage) shown without
flooding the terminal: the first of each kind at once, then at most one line per interval
that says how many more there were."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sentinelgw.wording import counted

DEFAULT_INTERVAL = 60.0
MAX_KINDS = 64  # distinct messages tracked at once; older ones are forgotten


@dataclass
class _Kind:
    last_shown: float
    message: str
    suppressed: int = 0


class ThrottledNotice:
    """Call it with each occurrence; ``emit`` sees the first of each kind and, at most once
    per ``interval``, a repeat carrying the count of the ones not shown since."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: dict[str, _Kind] = {}

    def __call__(self, message: str, kind: str | None = None) -> None:
        key = message if kind is None else kind
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(key)
            if seen is not None and now - seen.last_shown < self._interval:
                seen.suppressed += 1
                seen.message = message
                return
            repeats = seen.suppressed if seen is not None else 0
            if seen is None and len(self._kinds) >= MAX_KINDS:
                self._kinds.pop(next(iter(self._kinds)))
            self._kinds[key] = _Kind(last_shown=now, message=message)
        self._emit(message + _since(repeats, self._interval))

    def flush(self) -> None:
        """Report the occurrences not shown yet (at the end of a session)."""
        with self._lock:
            pending = [(v.message, v.suppressed) for v in self._kinds.values() if v.suppressed]
            for kind in self._kinds.values():
                kind.suppressed = 0
        for message, count in pending:
            self._emit(f"{message} ({counted(count, 'more time')} not shown)")


def _since(repeats: int, interval: float) -> str:
    if not repeats:
        return ""
    span = f"{int(interval)} s" if interval < 120 else f"{int(interval // 60)} min"
    return f" ({counted(repeats, 'more time')} in the last {span})"
