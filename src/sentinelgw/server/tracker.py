"""The session record of one server session, and its revocation state.

Revocation is checked without a DynamoDB round trip on the request path: a poller thread reads
the record's status (consistent read) every ``poll_interval`` seconds and requests read the
result from memory, so a revoke takes effect within about one interval. Request counts are
accumulated in memory and flushed with one atomic ``ADD`` per ``flush_interval``; the final
flush happens before the record is marked expired, so the counter is exact.

Fail closed: if the status could not be read for ``stale_after`` seconds, :meth:`state` says
"unavailable" and the handler refuses requests for sessions whose policy requires tracking.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sentinelgw.errors import SentinelError
from sentinelgw.inert import visible
from sentinelgw.server.notices import ThrottledNotice

if TYPE_CHECKING:
    from sentinelgw.decisionlog import DecisionLog
    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.sessions.store import SessionStore


@dataclass(frozen=True)
class TrackState:
    state: str  # "ok" | "revoked" | "unavailable"
    detail: str = ""


class SessionTracker:
    def __init__(
        self,
        store: SessionStore,
        record: SessionRecord,
        log: DecisionLog,
        *,
        poll_interval: float = 0.5,
        flush_interval: float = 1.0,
        stale_after: float = 3.0,
    ) -> None:
        self.store = store
        self.record = record
        self.table = store.table
        self._log = log
        self._poll = poll_interval
        self._flush_every = flush_interval
        self._stale_after = stale_after
        self._lock = threading.Lock()
        self._pending = 0
        self._extended = False
        self._keys: set[str] = set()  # access key ids not yet written to the record
        self._revoked: str | None = None
        self._last_ok = time.monotonic()
        self._last_error = ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Recorded as the record's end_reason when stop() marks it expired.
        self.end_reason: str | None = None

        # An outage fails every flush: warn at once, then once a minute with the count.
        self._touch_failed = ThrottledNotice(lambda m: log.warn(m, session_id=record.id))

    @property
    def session_id(self) -> str:
        return self.record.id

    def start(self) -> None:
        """Create the record (active) — before the child starts — then start the threads."""
        self.store.create(self.record)
        self._last_ok = time.monotonic()
        for target, name in (
            (self._poll_loop, "sentinel-revocation"),
            (self._flush_loop, "sentinel-touch"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def state(self) -> TrackState:
        if self._revoked is not None:
            return TrackState("revoked", self._revoked)
        if time.monotonic() - self._last_ok > self._stale_after:
            return TrackState("unavailable", self._last_error or "no recent status read")
        return TrackState("ok")

    def count(self) -> None:
        with self._lock:
            self._pending += 1

    def extend(self, expires_at: datetime) -> None:
        """Credentials were refreshed: the session now lasts until ``expires_at``.

        The new expiry (and the TTL, moved by the same amount) is written with the next flush.
        """
        with self._lock:
            if expires_at <= self.record.expires_at:
                return
            shift = int((expires_at - self.record.expires_at).total_seconds())
            self.record = replace(self.record, expires_at=expires_at, ttl=self.record.ttl + shift)
            self._extended = True

    def issued(self, expiration: datetime) -> None:
        """Credentials that STS says expire at ``expiration`` are about to be served.

        The record keeps the latest such expiry (``credentials_expire_at``), written now,
        before the credentials are served, so a revoke after the session ended still knows
        whether they can be live (:meth:`SessionStore.revoke`).
        """
        with self._lock:
            known = self.record.credentials_expire_at
            if known is not None and expiration <= known:
                return
            self.record = replace(self.record, credentials_expire_at=expiration)
            self._extended = True
        self._flush()

    def add_key(self, access_key_id: str) -> None:
        """Credentials were issued: write their access key id to the record now.

        Called by the refresher's thread (never on the request path). A failed write keeps the
        key for the next flush, so it is never dropped.
        """
        with self._lock:
            self._keys.add(access_key_id)
        self._write_keys()

    def _write_keys(self) -> None:
        with self._lock:
            keys, self._keys = self._keys, set()
        if not keys:
            return
        try:
            self.store.add_access_keys(self.record.id, keys)
        except SentinelError as exc:
            with self._lock:
                self._keys |= keys
            self._touch_failed(
                f"could not record the access key of session {self.record.id}: {exc}", "keys"
            )

    def stop(self) -> None:
        """Final flush, then mark the record expired (unless it was revoked)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._flush()
        self._touch_failed.flush()
        try:
            self.store.mark_expired(self.record.id, datetime.now(UTC), self.end_reason)
        except SentinelError as exc:
            self._log.warn(
                f"could not mark session {self.record.id} expired: {exc}", session_id=self.record.id
            )

    def check_now(self) -> None:
        """One status read (also used by tests); updates the in-memory state."""
        try:
            status = self.store.status(self.record.id)
        except SentinelError as exc:
            self._last_error = str(exc)
            return
        self._last_ok = time.monotonic()
        if status is None:
            self._revoked = f"the session record {self.record.id} no longer exists"
        elif status == "revoked":
            self._revoked = self._revocation_detail()
        elif status != "active":
            self._revoked = f"the session is {status}"

    def _revocation_detail(self) -> str:
        try:
            rec = self.store.get(self.record.id)
        except SentinelError:
            rec = None
        if rec is None or not rec.revoked_by:
            return f"session {self.record.id} was revoked"

        # Record fields are untrusted; the child's SDK may print this message on a terminal.
        reason = f": {visible(rec.revoked_reason)}" if rec.revoked_reason else ""
        return f"session {self.record.id} was revoked by {visible(rec.revoked_by)}{reason}"

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll):
            if self._revoked is None:
                self.check_now()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_every):
            self._flush()

    def _flush(self) -> None:
        self._write_keys()
        with self._lock:
            n, self._pending = self._pending, 0
            extended, self._extended = self._extended, False
            record = self.record
        if n == 0 and not extended:
            return
        try:
            if extended:
                self.store.touch(
                    record.id,
                    n,
                    datetime.now(UTC),
                    expires_at=record.expires_at,
                    ttl=record.ttl,
                    credentials_expire_at=record.credentials_expire_at,
                )
            else:
                self.store.touch(record.id, n, datetime.now(UTC))
        except SentinelError as exc:
            with self._lock:
                self._pending += n  # keep the count for the next flush; never drop a request
                self._extended = self._extended or extended
            self._touch_failed(f"could not update session {self.record.id}: {exc}", "touch")
