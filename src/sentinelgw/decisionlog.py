"""The decision log: one JSON line per policy decision.

Fields: time, user, profile, mode, effect, allowed, rule, reason, source_identity, request_id,
session_table, session_id. Nothing else is written, so a credential can never end up here.
``--log-file F`` appends to F (created 0600); ``--log-stderr`` writes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from sentinelgw.errors import ConfigError

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


@dataclass
class DecisionLog:
    streams: list[IO[str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, path: str | None, to_stderr: bool) -> DecisionLog:
        streams: list[IO[str]] = []
        if path:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(f"cannot open log file {path}: {exc.strerror}") from None
            streams.append(os.fdopen(fd, "a", encoding="utf-8", buffering=1))
        if to_stderr:
            streams.append(sys.stderr)
        return cls(streams=streams)

    @property
    def enabled(self) -> bool:
        return bool(self.streams)

    def write(self, **entry: Any) -> None:
        if not self.streams:
            return
        record = {k: entry.get(k) for k in FIELDS if k in entry}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._lock:
            for stream in self.streams:
                try:
                    stream.write(line)
                    stream.flush()
                except (OSError, ValueError):
                    pass  # logging must never break credential issuance

    def warn(self, message: str, *, event: str = "warning", **entry: Any) -> None:
        """A warning line (fail-open, touch failures); printed to stderr if no log is set."""
        if self.streams:
            self.write(event=event, reason=message, **entry)
        else:
            print(f"sentinel: warning: {message}", file=sys.stderr, flush=True)
