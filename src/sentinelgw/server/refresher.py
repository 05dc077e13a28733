"""Keeps the session's STS credentials fresh without putting STS on the request path.

Requests read :meth:`current`, a lock-free attribute read. A background thread re-issues the
credentials when half of the served lifetime is gone, so a served credential always has at
least half its lifetime left and STS is called once per half-lifetime, not per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sentinelgw.credentials.model import AwsCredentials

RETRY_SECONDS = 5.0
# Credentials this close to their expiry are never served: a client would get keys that
# expire before its request reaches AWS.
EXPIRY_MARGIN = timedelta(seconds=30)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CredentialRefresher:
    def __init__(
        self,
        issue: Callable[[], AwsCredentials],
        served_lifetime: timedelta,
        *,
        on_refresh: Callable[[AwsCredentials], None] | None = None,
        on_issue: Callable[[AwsCredentials], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._issue = issue
        self._lifetime = served_lifetime
        self._on_refresh = on_refresh
        # Receives the credentials as STS issued them, before they are served: their own
        # expiry can pass the served one (STS issues at least 15 minutes).
        self._on_issue = on_issue
        self._on_error = on_error
        self._current: AwsCredentials | None = None
        self._refresh_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AwsCredentials:
        """Issue the first credentials synchronously (errors propagate), then refresh in the
        background."""
        creds = self._fetch()
        self._thread = threading.Thread(target=self._loop, name="sentinel-refresh", daemon=True)
        self._thread.start()
        return creds

    def current(self) -> AwsCredentials | None:
        creds = self._current
        if creds is None or creds.expiration is None:
            return creds
        if creds.expiration <= self._clock() + EXPIRY_MARGIN:
            return None  # never serve credentials about to expire
        return creds

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _fetch(self) -> AwsCredentials:
        issued = self._issue()
        if self._on_issue is not None:
            self._on_issue(issued)
        now = self._clock()
        cap = now + self._lifetime
        expiration = issued.expiration or cap
        served = replace(issued, expiration=min(expiration, cap))
        self._current = served
        assert served.expiration is not None
        half = (served.expiration - now).total_seconds() / 2
        self._refresh_at = self._monotonic() + max(half, 1.0)
        if self._on_refresh is not None:
            self._on_refresh(served)
        return served

    def refresh_if_due(self) -> float:
        """Re-issue if the refresh time has come; the seconds until the next check is due."""
        wait = self._refresh_at - self._monotonic()
        if wait > 0:
            return wait
        try:
            self._fetch()
        except Exception as exc:  # keep serving what is still valid; retry soon
            if self._on_error is not None:
                self._on_error(exc)
            self._refresh_at = self._monotonic() + RETRY_SECONDS
        return 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.refresh_if_due()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
