"""The service issues and tracks every session itself, so a profile whose rule requires a
tracked server session is served through it in credential_process and console modes too."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SENTINEL = str(Path(sys.executable).parent / "sentinel")


def sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


class _Federation(BaseHTTPRequestHandler):
    sessions: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        type(self).sessions.append(json.loads(query["Session"][0]))
        body = json.dumps({"SigninToken": "stand-in-token"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def federation() -> Iterator[str]:
    """A loopback stand-in for the AWS federation endpoint."""
    _Federation.sessions = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Federation)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/federation"
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_for_a_tracked_profile_through_the_service(alice_env):
    done = sentinel(["credentials", "--profile", "prod"], alice_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["Version"] == 1 and doc["AccessKeyId"].startswith("ASIA")
    local = sentinel(["credentials", "--local", "--profile", "prod"], alice_env)
    assert local.returncode in (1, 2) and "Traceback" not in local.stderr


def test_console_login_for_a_tracked_profile_through_the_service(alice_env, federation):
    env = dict(alice_env, SENTINEL_FEDERATION_ENDPOINT=federation)
    done = sentinel(["login", "--profile", "prod"], env)
    assert done.returncode == 0, done.stderr
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(done.stdout.strip()).query)
    assert query["SigninToken"] == ["stand-in-token"]
    (session,) = _Federation.sessions
    assert session["sessionId"].startswith("ASIA") and session["sessionToken"]
    assert session["sessionKey"] not in done.stdout + done.stderr
    refused = sentinel(["login", "--local", "--profile", "prod"], env)
    assert refused.returncode in (1, 2) and len(_Federation.sessions) == 1
