"""Helpers for the hardening tests: a live ``sentinel exec --server`` session, raw HTTP on
loopback, and the one-line error check every failure path must pass."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import sentinel_command

PY = sys.executable
HOLDER = str(Path(__file__).with_name("holder.py"))
CREDENTIALS_PATH = "/sentinel/credentials"


@dataclass
class Live:
    """A running ``sentinel exec --server`` whose child (holder.py) waits on stdin."""

    proc: subprocess.Popen[str]
    hello: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.hello["url"])

    @property
    def token(self) -> str:
        return str(self.hello["token"])

    @property
    def session(self) -> str:
        return str(self.hello["session"])

    @property
    def port(self) -> int:
        return int(self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def fetch(self) -> dict[str, Any]:
        """One fetch made by the child itself: ``{"status": N, "code": C}``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("fetch\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the child ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
        return dict(json.loads(line))

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Close the child's stdin; return Sentinel's exit code and stderr."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        return code, self.proc.stderr.read()


@contextmanager
def live_session(
    env: dict[str, str],
    *args: str,
    capture: Path | None = None,
    sentinel_args: tuple[str, ...] = (),
) -> Iterator[Live]:
    """``sentinel [sentinel_args] exec --server ARGS -- python holder.py [capture]``."""
    child = [PY, HOLDER, *([str(capture)] if capture else [])]
    proc = subprocess.Popen(
        [*sentinel_command(), *sentinel_args, "exec", "--server", *args, "--", *child],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    live = Live(proc)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first:
            proc.wait(timeout=30)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"sentinel exited {proc.returncode} before serving: {err}")
        live.hello = json.loads(first)
        if capture is not None:
            for line in capture.read_text().splitlines():
                entry = json.loads(line)
                if "hello" in entry:
                    live.hello = entry["hello"]
        yield live
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def request_bytes(
    port: int,
    token: str | None,
    *,
    host: str | None = None,
    method: str = "GET",
    path: str = CREDENTIALS_PATH,
    version: str = "HTTP/1.1",
    extra: str = "",
) -> bytes:
    head = f"{method} {path} {version}\r\n"
    head += f"Host: {host if host is not None else f'127.0.0.1:{port}'}\r\n"
    if token is not None:
        head += f"Authorization: {token}\r\n"
    return (head + extra + "\r\n").encode()


def exchange(port: int, data: bytes, *, timeout: float = 20, half_close: bool = False) -> bytes:
    """Send ``data`` on a fresh loopback connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1])


def body_of(resp: bytes) -> dict[str, Any]:
    return dict(json.loads(resp.split(b"\r\n\r\n", 1)[1]))


def responses_in(resp: bytes) -> int:
    """How many HTTP responses the bytes hold (status lines at a message start)."""
    return resp.count(b"HTTP/1.1 ")


def one_error_line(stderr: str) -> str:
    """The failure is one ``sentinel: error:`` line and nothing else (no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("sentinel: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]
