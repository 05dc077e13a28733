"""Request counting for sessions, written to the table in batches off the request path.

Each credential request adds one to an in-memory count; at most every ``interval`` seconds a
background thread adds the pending counts with ``UpdateItem ADD request_count`` (only while
the session is active). Counts are informational, so a failed flush keeps them pending rather
than failing requests; a process that dies loses at most one interval of counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from sentinelgw.errors import SentinelError
from sentinelgw.sessions.store import SessionStore


class RequestCounter:
    def __init__(
        self, store: SessionStore, clock: Callable[[], datetime], *, interval: float = 2.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.interval = interval
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._flushing = False

    def add(self, session_id: str) -> None:
        with self._lock:
            self._pending[session_id] = self._pending.get(session_id, 0) + 1
            due = not self._flushing and time.monotonic() - self._last >= self.interval
            if due:
                self._flushing = True
        if due:
            threading.Thread(
                target=self._flush_then_release, name="sentinel-tvm-counter", daemon=True
            ).start()

    def _flush_then_release(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False
                self._last = time.monotonic()

    def flush(self) -> None:
        """Write every pending count now (also called at shutdown)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        now = self.clock()
        for session_id, count in pending.items():
            try:
                self.store.touch(session_id, count, now)
            except SentinelError:
                with self._lock:
                    self._pending[session_id] = self._pending.get(session_id, 0) + count
