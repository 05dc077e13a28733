"""The sandbox's webhook receiver: where the sandbox credential service sends notifications.

It listens on loopback only and appends one JSON line per POST to ``webhook.jsonl`` in the
sandbox folder: ``{"time", "path", "body"}``, the body parsed as JSON when it is (else kept as
text, cut to 64 KiB). It is the only plain-http webhook the service document accepts (the
loader takes http for a loopback address only). NOT FOR PRODUCTION.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 64 * 1024
FILENAME = "webhook.jsonl"


class WebhookReceiver:
    """A loopback HTTP server appending what it receives to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                raw = self.rfile.read(length) if length > 0 else b""
                receiver.append(self.path, raw)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # quiet: the file is the record

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-webhook", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/webhook"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def append(self, path: str, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        line = json.dumps(
            {"time": datetime.now(UTC).isoformat(), "path": path[:256], "body": body},
            ensure_ascii=False,
        )
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")


def read_messages(path: Path) -> list[dict[str, Any]]:
    """The lines of ``webhook.jsonl`` (an absent file: none)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
