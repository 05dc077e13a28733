"""The decision log: one JSON line per policy decision and per server credential request.

Fields: time, user, profile, mode, effect, allowed, rule, reason, source_identity, request_id,
session_table, session_id, event. Nothing else is written, so a credential can never end up
here. ``event`` says what the line records:

- ``decision``: the policy decided a request of ``exec``, ``credentials`` or the start of a
  server session; ``allowed`` is that decision;
- ``served`` / ``refused``: one credential request to a running server, with its real outcome:
  ``allowed`` is true only when credentials were sent, and a refusal's ``reason`` starts with
  the code the child received (``SessionRevoked: ...``, ``AccessDenied: ...``);
- ``rejected``: a request the server's HTTP layer refused before any check of the session
  (malformed, wrong ``Host``, method or path, missing or wrong token), with its code;
- ``warning``: fail-open, refresh and tracking problems; ``debug_policy``: ``--policy`` used
  over a pinned central policy source.

``--log-file F`` appends to F: created 0600, opened with ``O_NOFOLLOW``, and refused when it is
a symlink, not a regular file, owned by another user or writable by others. ``--log-stderr``
writes to stderr. A server batches its lines (:meth:`DecisionLog.start_batching`): a request
only appends a dict to a list, and a background thread encodes and writes what accumulated,
so logging adds no file I/O to the request path. :meth:`DecisionLog.close` writes the rest.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from sentinelgw.errors import ConfigError
from sentinelgw.fsutil import open_append_private
from sentinelgw.inert import visible

FIELDS = (
    "time",
    "user",
    "profile",
    "mode",
    "effect",
    "allowed",
    "rule",
    "reason",
    "source_identity",
    "request_id",
    "session_table",
    "session_id",
    "event",
)
EVENTS = ("decision", "served", "refused", "rejected", "warning", "debug_policy")
BATCH_INTERVAL = 0.2  # seconds between background writes in server mode


@dataclass
class DecisionLog:
    streams: list[IO[str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards _pending
    _io_lock: threading.Lock = field(default_factory=threading.Lock)  # one writer at a time
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _owned: list[IO[str]] = field(default_factory=list)  # streams close() closes

    @classmethod
    def open(cls, path: str | None, to_stderr: bool) -> DecisionLog:
        streams: list[IO[str]] = []
        owned: list[IO[str]] = []
        if path:
            try:
                fd = open_append_private(path)
            except OSError as exc:
                why = exc.strerror or str(exc)
                raise ConfigError(
                    f"cannot open log file {path}: {why}",
                    hint="Use a new path, or a regular file you own that only you can write",
                ) from None
            stream = os.fdopen(fd, "a", encoding="utf-8")
            streams.append(stream)
            owned.append(stream)
        if to_stderr:
            streams.append(sys.stderr)
        return cls(streams=streams, _owned=owned)

    @property
    def enabled(self) -> bool:
        return bool(self.streams)

    def write(self, **entry: Any) -> None:
        if not self.streams:
            return
        self.append({k: entry.get(k) for k in FIELDS if k in entry})

    def append(self, record: dict[str, Any]) -> None:
        """Log ``record``, which the caller built from :data:`FIELDS` only (the hot path)."""
        if not self.streams:
            return
        if self._thread is not None:
            with self._lock:
                self._pending.append(record)
            return
        self._emit([record])

    def warn(self, message: str, *, event: str = "warning", **entry: Any) -> None:
        """A warning line (fail-open, touch failures); printed to stderr if no log is set."""
        if self.streams:
            self.write(event=event, reason=message, **entry)
        else:
            print(f"sentinel: warning: {visible(message)}", file=sys.stderr, flush=True)

    def start_batching(self, interval: float = BATCH_INTERVAL) -> None:
        """From now on, :meth:`write` queues and a background thread writes every ``interval``."""
        if self._thread is not None or not self.streams:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="decision-log", daemon=True
        )
        self._thread.start()

    def flush(self) -> None:
        """Write every queued line now."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._emit(batch)

    def close(self) -> None:
        """Stop batching, write what is queued, and close the log file."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=5)
        self.flush()
        for stream in self._owned:
            try:
                stream.close()
            except OSError:
                pass
        self.streams = [s for s in self.streams if s not in self._owned]
        self._owned = []

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

    def _emit(self, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records)
        with self._io_lock:
            for stream in self.streams:
                try:
                    stream.write(text)
                    stream.flush()
                except (OSError, ValueError):
                    pass  # logging must never break credential issuance
