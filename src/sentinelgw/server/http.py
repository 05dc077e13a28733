"""A minimal loopback HTTP server for the container-credentials protocol.

Why not ``http.server``: it answers keep-alive, parses more than we need and makes it easy to
send two responses on one request (a client then reads the second as the answer to its
next request). Here each
connection gets exactly one response, written in one ``sendall``, then the socket closes.

Checks, in order, each ending the request: size and syntax of the request head (400/431, and
408 for a client too slow to send it), the ``Host`` header (403: DNS rebinding), the method
(405), the path (404), the token (401 missing / 403 wrong, compared with
``hmac.compare_digest``), then the application handler.
"""

from __future__ import annotations

import hmac
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_HEAD = 8192
READ_TIMEOUT = 5.0
POLL_INTERVAL = 0.2  # serve_forever's poll; stop() wakes it rather than waiting it out
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]

    def encode(self) -> bytes:
        cached: bytes | None = self.__dict__.get("_encoded")
        if cached is None:
            cached = self._encode()
            # A handler may serve one Response object many times (the same credentials until
            # the next refresh): encode it once. Frozen, so set it past __setattr__.
            object.__setattr__(self, "_encoded", cached)
        return cached

    def _encode(self) -> bytes:
        payload = json.dumps(self.body, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
        )
        if self.status == 405:
            head += "Allow: GET\r\n"
        return head.encode() + b"\r\n" + payload


def error(status: int, code: str, message: str) -> Response:
    return Response(status, {"Code": code, "Message": message})


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        head = _read_head(sock)
        response = self.server.owner.respond(head)
        try:
            sock.sendall(response.encode())
            if response.status != 200:
                _drain(sock)
        except OSError:
            pass


def _drain(sock: socket.socket) -> None:
    """Read and drop what the client still sends before closing (at most 1 MiB and 1 s).

    Closing a socket with unread data sends a RST, which can destroy the response before the
    client reads it; this is the "lingering close" other HTTP servers do. Every refusal gets
    it, so a request with a body or a pipelined second request still sees its one answer. A
    200 does not: SDKs send a bare GET, and an extra peek for unread data on the fast path was
    measured to stall about one connection in 40,000 for the full read timeout.
    """
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 1.0
    left = 1 << 20
    while left > 0:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            return
        left -= len(chunk)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: CredentialHTTPServer
    stopping = False

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Once stop() begins, a connection only wakes serve_forever's poll: close it unanswered.
        return not self.stopping


def _read_head(sock: socket.socket) -> bytes | int:
    """The request head, or an HTTP status for why there is none.

    READ_TIMEOUT bounds the whole head, not each ``recv``: otherwise a client trickling one
    byte every few seconds could hold a connection open for hours.
    """
    deadline = time.monotonic() + READ_TIMEOUT
    # Fast path: clients send the whole head right after connecting, so one non-blocking read
    # usually gets it without the poll() that a socket timeout adds to every recv and send
    # (measured in benchmarks/server_bench.py). The socket then stays blocking for the reply,
    # which is under 2 KiB and always fits a new connection's send buffer.
    try:
        buf = sock.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        buf = b""
    except OSError:
        return 400
    else:
        if not buf:
            return 400
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            return 431
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 408
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return 408
        except OSError:
            return 400
        if not chunk:
            return 400
        buf += chunk
    head = buf.split(b"\r\n\r\n", 1)[0]
    return 431 if len(head) > MAX_HEAD else head


class CredentialHTTPServer:
    """Serves ``handler()`` at ``path`` on 127.0.0.1 to requests bearing ``token``."""

    def __init__(
        self,
        token: str,
        path: str,
        handler: Callable[[], Response],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        on_reject: Callable[[Response], None] | None = None,
    ) -> None:
        if host not in {"127.0.0.1", "::1", "localhost"}:
            raise ValueError("the credential server binds loopback only")
        self._token = token.encode()
        self.path = path
        self._handler = handler
        # Told of every request refused here, before the handler (bad head, host, method,
        # path or token), so the decision log records those refusals too.
        self._on_reject = on_reject
        self._host = host
        self._tcp = _TCPServer((host, port), _Handler)
        self._tcp.owner = self
        self.port: int = self._tcp.server_address[1]
        self._hosts = {f"127.0.0.1:{self.port}".encode(), f"localhost:{self.port}".encode()}
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._tcp.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="sentinel-credential-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving at once, not at the next poll (up to 0.2 s later, at every exec's exit).

        ``shutdown()`` only sets a flag that ``serve_forever`` reads between polls, and waits.
        While it waits, a connection of our own wakes the poll; the server closes it unread.
        """
        self._tcp.stopping = True
        if self._thread is not None and self._thread.is_alive():
            waiter = threading.Thread(target=self._tcp.shutdown, daemon=True)
            waiter.start()
            while waiter.is_alive():
                try:
                    socket.create_connection((self._host, self.port), timeout=1).close()
                except OSError:
                    pass
                waiter.join(0.05)
            self._thread.join(timeout=5)
        self._tcp.server_close()

    def respond(self, head: bytes | int) -> Response:
        refusal = self._check(head)
        if refusal is not None:
            if self._on_reject is not None:
                try:
                    self._on_reject(refusal)
                except Exception:  # noqa: S110 - a log failure must not change the answer
                    pass
            return refusal
        try:
            return self._handler()
        except Exception:  # never a traceback on the wire, never two responses
            return error(500, "InternalError", "sentinel failed to handle the request; see its log")

    def _check(self, head: bytes | int) -> Response | None:
        """The refusal for a request that must not reach the handler, or None."""
        if isinstance(head, int):
            return error(head, "BadRequest", REASONS.get(head, "bad request"))
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return error(400, "BadRequest", "malformed request line")
        method, target = parts[0], parts[1]
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                return error(400, "BadRequest", "malformed header line")
            key = name.lower()
            if key in headers and key in (b"host", b"authorization"):
                return error(400, "BadRequest", "duplicate header")
            headers[key] = value.strip()
        if headers.get(b"host", b"").lower() not in self._hosts:
            return error(
                403, "ForbiddenHost", "requests must be addressed to the loopback credential server"
            )
        if method != b"GET":
            return error(405, "MethodNotAllowed", "only GET is supported")
        if target.split(b"?", 1)[0] != self.path.encode():
            return error(404, "NotFound", "unknown path")
        token = headers.get(b"authorization")
        if token is None:
            return error(401, "Unauthorized", "missing Authorization token")
        if not hmac.compare_digest(token, self._token):
            return error(403, "Forbidden", "invalid Authorization token")
        return None
