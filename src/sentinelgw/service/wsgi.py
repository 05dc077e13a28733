"""WSGI host: the service as a WSGI application, served by waitress in ``sentinel tvm serve``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

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


class ServiceServer:
    """The service on waitress (a production WSGI server), run in the foreground or a thread."""

    def __init__(
        self, service: ServiceApp | None, *, host: str, port: int, threads: int = 16
    ) -> None:
        from waitress.server import create_server

        self.wsgi = WsgiApp(service)
        self._server: Any = create_server(
            self.wsgi,
            host=host,
            port=port,
            threads=threads,
            ident="sentinel-tvm",
            clear_untrusted_proxy_headers=True,
            max_request_body_size=WAITRESS_MAX_BODY,
            channel_timeout=30,
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
        wasyncore.close_all(getattr(self._server, "_map", None))
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
