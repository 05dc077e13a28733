"""WSGI host: the service as a WSGI application, served by waitress in ``sentinel tvm serve``.

waitress reads each request in its event loop and hands complete ones to worker threads, so a
slow client holds a connection, not a thread. What it lacks is a limit on how long a request may
take to arrive (its ``channel_timeout`` restarts with every byte) and a limit per client
address (its ``connection_limit`` is shared by everyone, so one client holding 100 connections
locks all others out). :class:`ServiceServer` adds both, in waitress's own accept and
maintenance path:

- a request's headers must all arrive within ``header_timeout`` seconds of its first byte, and
  the whole request within ``request_timeout``, however steadily it trickles in; a connection
  past either is closed;
- one client address holds at most ``per_address`` connections (0: no limit); a connection
  beyond that is closed as soon as it is accepted;
- ``connection_limit`` connections in all.

The subclasses read waitress 3's channel state (``request``, ``requests``,
``headers_finished``, ``active_channels``); the slowloris tests in
``tests/service/test_tvm_uncooperative.py`` fail if a waitress upgrade moves it.

Behind a load balancer every connection comes from the balancer's addresses: there, set
``per_address`` to 0 and let the balancer, which reads complete requests before it forwards
them, absorb slow clients (docs/service.md, "Slow clients").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sentinelgw.errors import UsageError
from sentinelgw.service.api import MAX_BODY, HttpRequest, HttpResponse, ServiceApp

# waitress itself refuses bodies past this (with a plain-text 413); between MAX_BODY and this
# the core answers with its JSON error.
WAITRESS_MAX_BODY = 1 << 20
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def request_from_environ(environ: dict[str, Any]) -> HttpRequest:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    # One byte past the limit is enough for the core to answer 413.
    body = stream.read(min(max(length, 0), MAX_BODY + 1)) if stream is not None else b""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    return HttpRequest(
        method=str(environ.get("REQUEST_METHOD", "")),
        path=str(environ.get("PATH_INFO", "")),
        body=bytes(body),
        headers=headers,
        client_ip=str(environ.get("REMOTE_ADDR") or "") or None,
    )


class WsgiApp:
    """``service`` may be set after the server is bound (the sandbox names it by its URL)."""

    def __init__(self, service: ServiceApp | None) -> None:
        self.service = service

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        assert self.service is not None, "the service is not built yet"
        response: HttpResponse = self.service.handle(request_from_environ(environ))
        data = response.encode()
        headers = [(k, v) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{response.status} {_REASONS.get(response.status, 'Error')}", headers)
        return [data]


HEADER_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
PER_ADDRESS = 32
CONNECTION_LIMIT = 1000


def _guarded_classes(
    header_timeout: float, request_timeout: float, per_address: int
) -> tuple[Any, Any]:
    """waitress's server and channel classes with the deadlines and the per-address limit."""
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class Channel(HTTPChannel):  # type: ignore[misc]
        began: float | None = None  # when the first byte of the request being read arrived

        def received(self, data: bytes) -> bool:
            if self.request is None:
                self.began = time.monotonic()
            done = bool(super().received(data))
            if self.request is None:
                self.began = None
            return done

        def overdue(self, now: float) -> bool:
            if self.requests or self.began is None or self.request is None:
                return False  # being served, or waiting for a request (channel_timeout's job)
            limit = request_timeout if self.request.headers_finished else header_timeout
            return now - self.began > limit

    class Server(TcpWSGIServer):  # type: ignore[misc]
        channel_class = Channel

        def maintenance(self, now: float) -> None:
            super().maintenance(now)
            mono = time.monotonic()
            for channel in list(self.active_channels.values()):
                if isinstance(channel, Channel) and channel.overdue(mono):
                    channel.will_close = True

        def handle_accept(self) -> None:
            try:
                accepted = self.accept()
                if accepted is None:
                    return
                conn, addr = accepted
                self.set_socket_options(conn)
            except OSError:
                return
            addr = self.fix_addr(addr)
            if per_address:
                host = addr[0] if isinstance(addr, tuple) else addr
                held = sum(
                    1
                    for ch in list(self.active_channels.values())
                    if isinstance(ch.addr, tuple) and ch.addr[0] == host
                )
                if held >= per_address:
                    conn.close()  # this address holds its share already
                    return
            self.channel_class(self, conn, addr, self.adj, map=self._map)

    return Server, Channel


class ServiceServer:
    """The service on waitress (a production WSGI server), run in the foreground or a thread."""

    def __init__(
        self,
        service: ServiceApp | None,
        *,
        host: str,
        port: int,
        threads: int = 16,
        header_timeout: float = HEADER_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        per_address: int = PER_ADDRESS,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        from waitress.adjustments import Adjustments
        from waitress.task import ThreadedTaskDispatcher

        self.wsgi = WsgiApp(service)
        adj = Adjustments(
            host=host,
            port=port,
            threads=threads,
            ident="sentinel-tvm",
            clear_untrusted_proxy_headers=True,
            max_request_body_size=WAITRESS_MAX_BODY,
            channel_timeout=30,
            cleanup_interval=1,  # the deadlines are checked every second
            connection_limit=connection_limit,
            asyncore_use_poll=True,  # select() stops at file descriptor 1024
        )
        if len(adj.listen) != 1:
            raise UsageError(
                f"--host {host} names {len(adj.listen)} addresses",
                hint="Give one address, such as 127.0.0.1, ::1 or 0.0.0.0",
            )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
        server_class, _ = _guarded_classes(header_timeout, request_timeout, per_address)
        self._map: dict[int, Any] = {}
        self._server: Any = server_class(
            self.wsgi, self._map, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0]
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until interrupted (KeyboardInterrupt or SystemExit)."""
        self._server.run()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="sentinel-tvm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        from waitress import wasyncore

        self._server.task_dispatcher.shutdown()
        # Closing every channel in the server's map (listener and open connections) ends the
        # loop that run() is in.
        wasyncore.close_all(self._map)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
