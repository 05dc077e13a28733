"""Hostile clients against a live ``sentinel exec --server`` session (``tests/server/test_http.py``
covers the HTTP class alone): each request gets exactly one response and never credentials
unless it is a well-formed GET with the token, the right Host and the right path.

One session serves the whole module; at the end its request counter must equal the number of
credentials it served, so refusals are never counted and nothing served goes uncounted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hardeninghelpers import (
    Live,
    exchange,
    live_session,
    request_bytes,
    responses_in,
    status_of,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import BIN_DIR, sentinel_command

SECRET_FIELD = b"SecretAccessKey"


class Served:
    """The live session and how many credentials the tests saw it serve."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.granted = 0
        self._lock = threading.Lock()

    def send(self, data: bytes, *, half_close: bool = True) -> bytes:
        resp = exchange(self.live.port, data, half_close=half_close)
        assert responses_in(resp) == 1, resp[:300]
        if status_of(resp) == 200:
            with self._lock:
                self.granted += 1
        else:
            assert SECRET_FIELD not in resp
        return resp


@pytest.fixture(scope="module")
def served(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env.update(sandbox.env())
    env["HOME"] = str(tmp_path_factory.mktemp("hostile-home"))
    env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    with live_session(env, "--profile", "prod") as live:
        state = Served(live)
        yield state
        code, stderr = live.finish()
    assert code == 0, stderr
    out = subprocess.run(
        [*sentinel_command(), "server-session", live.session, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["request_count"] == state.granted


def good(s: Served, **kw: Any) -> bytes:
    return request_bytes(s.live.port, s.live.token, **kw)


def test_a_valid_request_is_served(served: Served) -> None:
    resp = served.send(good(served))
    assert status_of(resp) == 200 and SECRET_FIELD in resp
    assert b"Connection: close" in resp and b"Cache-Control: no-store" in resp


CASES: list[tuple[str, dict[str, Any], int]] = [
    ("wrong host", {"host": "evil.example.com"}, 403),
    ("rebinding name with our port", {"host": "attacker.test:{port}"}, 403),
    ("other port", {"host": "127.0.0.1:1"}, 403),
    ("ipv6 loopback host", {"host": "[::1]:{port}"}, 403),
    ("no port", {"host": "localhost"}, 403),
    ("upper-case localhost", {"host": "LOCALHOST:{port}"}, 200),
    ("HTTP/1.0 with Host", {"version": "HTTP/1.0"}, 200),
    ("HTTP/2 line", {"version": "HTTP/2.0"}, 400),
    ("POST", {"method": "POST"}, 405),
    ("HEAD", {"method": "HEAD"}, 405),
    ("DELETE", {"method": "DELETE"}, 405),
    ("OPTIONS", {"method": "OPTIONS"}, 405),
    ("lower-case get", {"method": "get"}, 405),
    ("root path", {"path": "/"}, 404),
    ("trailing slash", {"path": "/sentinel/credentials/"}, 404),
    ("double slash", {"path": "//sentinel/credentials"}, 404),
    ("encoded path", {"path": "/sentinel/%63redentials"}, 404),
    ("absolute form", {"path": "http://127.0.0.1:{port}/sentinel/credentials"}, 404),
    ("asterisk", {"path": "*"}, 404),
    ("metadata path", {"path": "/latest/meta-data/iam/security-credentials/"}, 404),
    ("query string is ignored", {"path": "/sentinel/credentials?x=1"}, 200),
    ("duplicate host", {"extra": "Host: evil.example.com\r\n"}, 400),
    ("duplicate token", {"extra": "Authorization: x\r\n"}, 400),
    ("space before colon", {"extra": "X-A : b\r\n"}, 400),
    ("header without colon", {"extra": "nocolon\r\n"}, 400),
    ("oversized header", {"extra": "X-Pad: " + "a" * 9000 + "\r\n"}, 431),
    ("many headers", {"extra": "".join(f"X-{i}: {'b' * 60}\r\n" for i in range(200))}, 431),
]


@pytest.mark.parametrize(("kw", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_request_gets_one_response(served: Served, kw: dict[str, Any], code: int) -> None:
    port = served.live.port
    kw = {k: v.replace("{port}", str(port)) for k, v in kw.items()}
    resp = served.send(good(served, **kw))
    assert status_of(resp) == code, resp[:300]
    if code == 405:
        assert b"Allow: GET" in resp


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, 401),
        ("", 403),
        ("Bearer {token}", 403),
        ("{token}x", 403),
        ("{upper}", 403),
    ],
)
def test_token_variants(served: Served, token: str | None, code: int) -> None:
    tok = served.live.token
    if token is not None:
        token = token.replace("{token}", tok).replace("{upper}", tok.upper())
    resp = served.send(request_bytes(served.live.port, token))
    assert status_of(resp) == code


def test_http10_without_host_is_refused(served: Served) -> None:
    data = f"GET /sentinel/credentials HTTP/1.0\r\nAuthorization: {served.live.token}\r\n\r\n"
    assert status_of(served.send(data.encode())) == 403


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GARBAGE\r\n\r\n",
        b"GET /sentinel/credentials\r\n\r\n",
        b"GET  /sentinel/credentials HTTP/1.1\r\n\r\n",
        b"GET /sentinel/credentials HTTP/1.1\n\n",
        b"\x00\xff\xfe\xfd\r\n\r\n",
        b"\r\n\r\n",
        b"GET /sentinel/credentials HTTP/1.1\r\nHost",
    ],
)
def test_malformed_heads(served: Served, data: bytes) -> None:
    assert status_of(served.send(data)) == 400


def test_a_megabyte_without_a_blank_line_is_431(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.live.port), timeout=20) as s:
        try:
            s.sendall(b"GET /sentinel/credentials HTTP/1.1\r\nX: " + b"a" * (1 << 20))
        except OSError:
            pass  # the server may stop reading and close first
        resp = s.recv(65536)
    assert status_of(resp) == 431 and SECRET_FIELD not in resp


def test_oversized_request_from_a_client_that_reads_late_still_gets_its_431(served: Served) -> None:
    """Regression: the server closed with the rest of the request unread, so the kernel sent
    a RST that destroyed the 431 before a client that was not reading yet could see it."""
    data = good(served, extra="".join(f"X-{i}: {'b' * 60}\r\n" for i in range(200)))
    with socket.create_connection(("127.0.0.1", served.live.port), timeout=20) as s:
        s.sendall(data)
        time.sleep(0.2)  # the server answers and closes meanwhile
        s.shutdown(socket.SHUT_WR)
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
    assert responses_in(resp) == 1 and status_of(resp) == 431


@pytest.mark.parametrize("second", ["same", "other path"])
def test_pipelined_second_request_gets_no_response(served: Served, second: str) -> None:
    first = good(served)
    nxt = first if second == "same" else good(served, path="/")
    resp = served.send(first + nxt, half_close=False)
    assert status_of(resp) == 200 and resp.count(SECRET_FIELD) == 1


def test_ten_slow_clients_do_not_block_a_normal_one(served: Served) -> None:
    slow = []
    try:
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", served.live.port), timeout=30)
            s.sendall(b"GET /sentinel/credentials HTTP/1.1\r\nHost: 127.0.0.1")  # never ends
            slow.append(s)
        for _ in range(5):
            assert status_of(served.send(good(served))) == 200
        for s in slow:  # each slow client ends with one 408, never credentials
            resp = s.recv(65536)
            assert status_of(resp) == 408 and SECRET_FIELD not in resp
    finally:
        for s in slow:
            s.close()


def test_a_trickling_client_is_cut_off(served: Served) -> None:
    """A client that keeps sending one byte at a time must not hold a request open forever:
    the head must arrive within the read timeout as a whole, not per byte."""
    head = good(served, extra="X-Pad: " + "a" * 400 + "\r\n")
    got = b""
    with socket.create_connection(("127.0.0.1", served.live.port), timeout=30) as s:
        s.setblocking(True)
        deadline = time.monotonic() + 30  # bounded; 400+ bytes at 0.1 s would take 40 s
        for byte in head[:-4]:
            if time.monotonic() > deadline:
                break
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            s.settimeout(0.1)
            try:
                got = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            break
    assert got, "the server kept waiting for a head trickled over 30 s"
    assert status_of(got) == 408 and SECRET_FIELD not in got


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_get_credentials(served: Served, data: bytes) -> None:
    resp = served.send(data + b"\r\n\r\n")
    assert status_of(resp) != 200


header_names = st.sampled_from(
    [
        "Host",
        "host",
        "Authorization",
        "X-Forwarded-Host",
        "Accept",
        "Connection",
        "Transfer-Encoding",
    ]
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(["GET", "POST", "PUT", "get"]),
    st.sampled_from(["/sentinel/credentials", "/", "/sentinel", "/sentinel/credentials/.."]),
    st.lists(
        st.tuples(
            header_names, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
        ),
        max_size=5,
    ),
)
def test_arbitrary_heads_without_the_token_never_get_credentials(
    served: Served, method: str, path: str, headers: list[tuple[str, str]]
) -> None:
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    resp = served.send(head.encode() + b"\r\n")
    assert status_of(resp) != 200


def test_the_server_still_serves_after_all_that(served: Served) -> None:
    assert status_of(served.send(good(served))) == 200
