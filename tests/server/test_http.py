"""The credential server's HTTP layer over real loopback sockets: exactly one response per
request, never credentials without the right token, Host, method and path."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sentinelgw.server.http import MAX_HEAD, CredentialHTTPServer, Response

TOKEN = "tok-" + "x" * 40
SECRET = "SECRETVALUE-never-on-the-wire-unless-authorised"


@pytest.fixture
def server() -> Iterator[CredentialHTTPServer]:
    srv = CredentialHTTPServer(
        TOKEN, "/sentinel/credentials", lambda: Response(200, {"SecretAccessKey": SECRET})
    )
    srv.start()
    yield srv
    srv.stop()


def raw(srv: CredentialHTTPServer, data: bytes, *, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def get(
    srv: CredentialHTTPServer,
    path: str = "/sentinel/credentials",
    *,
    token: str | None = TOKEN,
    host: str | None = None,
    method: str = "GET",
    extra: str = "",
) -> bytes:
    host = host if host is not None else f"127.0.0.1:{srv.port}"
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if token is not None:
        head += f"Authorization: {token}\r\n"
    head += extra + "\r\n"
    return raw(srv, head.encode())


def status(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1])


def test_valid_request_gets_credentials(server: CredentialHTTPServer) -> None:
    resp = get(server)
    assert status(resp) == 200
    assert SECRET.encode() in resp
    assert resp.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in resp


def test_localhost_host_is_accepted(server: CredentialHTTPServer) -> None:
    assert status(get(server, host=f"localhost:{server.port}")) == 200


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"token": None}, 401),
        ({"token": "wrong"}, 403),
        ({"token": TOKEN + "x"}, 403),
        ({"token": TOKEN[:-1]}, 403),
        ({"host": "evil.example.com"}, 403),
        ({"host": "127.0.0.1"}, 403),
        ({"host": "127.0.0.1:1"}, 403),
        ({"host": ""}, 403),
        ({"method": "POST"}, 405),
        ({"method": "PUT"}, 405),
        ({"path": "/"}, 404),
        ({"path": "/sentinel/credentials/../x"}, 404),
        ({"path": "/latest/meta-data/iam/security-credentials/"}, 404),
    ],
)
def test_refusals_never_carry_credentials(
    server: CredentialHTTPServer, kwargs: dict[str, str], code: int
) -> None:
    resp = get(server, **kwargs)  # type: ignore[arg-type]
    assert status(resp) == code
    assert SECRET.encode() not in resp
    assert resp.count(b"HTTP/1.1 ") == 1


def test_unknown_path_with_valid_token_gets_only_404(server: CredentialHTTPServer) -> None:
    resp = get(server, path="/other")
    assert status(resp) == 404 and SECRET.encode() not in resp


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /sentinel/credentials\r\n\r\n",
        b"GET /sentinel/credentials HTTP/2.0\r\n\r\n",
        b"GET /sentinel/credentials HTTP/1.1\r\nno-colon-header\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
    ],
)
def test_malformed_requests(server: CredentialHTTPServer, data: bytes) -> None:
    resp = raw(server, data)
    assert status(resp) == 400
    assert SECRET.encode() not in resp


def test_duplicate_authorization_is_refused(server: CredentialHTTPServer) -> None:
    resp = get(server, extra=f"Authorization: {TOKEN}\r\n")
    assert status(resp) == 400 and SECRET.encode() not in resp


def test_oversized_headers(server: CredentialHTTPServer) -> None:
    resp = get(server, extra="X-Pad: " + "a" * (MAX_HEAD + 100) + "\r\n")
    assert status(resp) == 431 and SECRET.encode() not in resp


def test_slow_client_does_not_block_others(server: CredentialHTTPServer) -> None:
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        slow.sendall(b"GET /sentinel/credentials HTTP/1.1\r\nHost: 127.0.0.1")  # never finishes
        results = []
        for _ in range(5):
            results.append(status(get(server)))
        assert results == [200] * 5
    finally:
        slow.close()


def test_slow_client_gets_a_timeout_response(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentinelgw.server.http as http

    monkeypatch.setattr(http, "READ_TIMEOUT", 0.3)
    srv = CredentialHTTPServer(TOKEN, "/p", lambda: Response(200, {"k": SECRET}))
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"GET /p HTTP/1.1\r\n")
            resp = s.recv(65536)
        assert status(resp) == 408 and SECRET.encode() not in resp
    finally:
        srv.stop()


def test_handler_crash_is_one_500_without_details() -> None:
    def boom() -> Response:
        raise RuntimeError(SECRET)

    srv = CredentialHTTPServer(TOKEN, "/p", boom)
    srv.start()
    try:
        resp = get(srv, path="/p")
        assert status(resp) == 500 and SECRET.encode() not in resp
    finally:
        srv.stop()


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError):
        CredentialHTTPServer(TOKEN, "/p", lambda: Response(200, {}), host="0.0.0.0")
    srv = CredentialHTTPServer(TOKEN, "/p", lambda: Response(200, {}))
    try:
        assert srv._tcp.server_address[0] == "127.0.0.1"
    finally:
        srv._tcp.server_close()


def test_concurrent_requests_each_get_one_response(server: CredentialHTTPServer) -> None:
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            c = status(get(server))
            with lock:
                codes.append(c)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [200] * 200


def test_token_check_uses_constant_time_compare() -> None:
    import inspect

    import sentinelgw.server.http as http

    source = inspect.getsource(http.CredentialHTTPServer._check)
    assert "compare_digest" in source


def test_refusal_with_unread_body_still_reaches_the_client(server: CredentialHTTPServer) -> None:
    # Without a lingering close the unread body makes the kernel send a RST, which can
    # destroy the 405 before the client reads it.
    body = b"x" * (256 * 1024)
    head = (
        f"POST /sentinel/credentials HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(head)
            try:
                s.sendall(body)
            except OSError:
                pass
            time.sleep(0.2)  # read late, as a busy client would
            resp = s.recv(65536)
        assert status(resp) == 405 and SECRET.encode() not in resp


def test_late_pipelined_request_gets_no_second_response(server: CredentialHTTPServer) -> None:
    req = (
        f"GET /x HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: {TOKEN}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(req)
        first = s.recv(65536)
        try:
            s.sendall(req.replace(b"/x", b"/sentinel/credentials"))
        except OSError:
            pass
        rest = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    assert status(first) == 404
    assert rest == b"" and SECRET.encode() not in first


def test_stop_wakes_the_server_instead_of_waiting_out_its_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ``sentinel exec`` stops its server at exit. With an hour-long poll, a stop that
    waited for the next poll would never come back here; the refusal log stays empty,
    because the connection that wakes the poll is closed unanswered, not refused."""
    import sentinelgw.server.http as http

    monkeypatch.setattr(http, "POLL_INTERVAL", 3600.0)
    refused: list[Response] = []
    srv = CredentialHTTPServer(
        TOKEN, "/p", lambda: Response(200, {"k": SECRET}), on_reject=refused.append
    )
    srv.start()
    assert status(get(srv, path="/p")) == 200
    stopper = threading.Thread(target=srv.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=30)
    assert not stopper.is_alive(), "stop() waited for the server's next poll"
    assert refused == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()


def test_stop_before_start_returns() -> None:
    srv = CredentialHTTPServer(TOKEN, "/p", lambda: Response(200, {"k": SECRET}))
    srv.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()
