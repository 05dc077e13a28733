"""Per-user rate limits of the service: session starts and revokes in a sliding minute.

The limits are the service document's ``limits:`` (:mod:`sentinelgw.service.document`). Counts
are kept in memory, per service instance: they stop one user from flooding an instance (and,
through revokes, the role's ``SentinelRevokedSessions`` policy), not a fleet of instances
working together. A refused call answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 60.0


class RateLimiter:
    """Sliding-window counts per key; bounded by ``max_keys`` (idle keys are dropped first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000) -> None:
        self._clock = clock
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, window: float = WINDOW) -> int | None:
        """Count one event for ``key``; None when within ``limit``, else seconds to wait."""
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._forget(now - window)
                events = self._events[key] = deque()
            while events and events[0] <= now - window:
                events.popleft()
            if len(events) >= limit:
                return max(1, math.ceil(events[0] + window - now))
            events.append(now)
            return None

    def _forget(self, cutoff: float) -> None:
        idle = [k for k, v in self._events.items() if not v or v[-1] <= cutoff]
        for key in idle:
            del self._events[key]
        if len(self._events) >= self.max_keys:
            self._events.clear()  # every key is busy: start over rather than grow
