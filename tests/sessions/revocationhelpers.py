"""Helpers for the hard-revocation tests: fresh roles on the sandbox, and an IAM proxy that
refuses PutRolePolicy (to show what a revoker without that permission sees)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from sessionhelpers import make_client, record

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ],
    }
)
# Who revokes, in the tests that call the core directly; FAST: no settle wait, no back-off.
REVOKER = "arn:aws:iam::123456789012:user/secops"
FAST: dict[str, Any] = {"settle": 0, "sleep": lambda _s: None}
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def live_session(n: int, role_arn: str, user: str = "alice") -> Any:
    """Session number ``n`` of ``user`` on ``role_arn``: started a minute ago, live an hour."""
    now = datetime.now(UTC)
    return record(
        n,
        user=user,
        id=f"{n:016x}",
        source_identity=f"sentinel.{user}.{n:016x}",
        started_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(hours=1),
        role_arn=role_arn,
    )


def live_sessions(n: int, role_arn: str, *, first: int = 0, user: str = "alice") -> list[Any]:
    return [live_session(i, role_arn, user) for i in range(first, first + n)]


def iam_client(endpoint_url: str) -> Any:
    return make_client(endpoint_url, "iam")


def new_role(iam: Any, max_session: int = 3600) -> str:
    """A fresh role (unique name) with an Allow-everything inline policy; returns its ARN."""
    name = f"rev-{uuid.uuid4().hex[:12]}"
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=TRUST, MaxSessionDuration=max_session
    )["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="allow-all", PolicyDocument=ALLOW_ALL)
    return str(role["Arn"])


def policy(iam: Any, role_arn: str, name: str = "SentinelRevokedSessions") -> Any:
    role = role_arn.rsplit("/", 1)[-1]
    return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def pad_role(iam: Any, role_arn: str, room: int) -> None:
    """Add an inline policy so that only ``room`` characters of the quota remain."""
    name = role_arn.rsplit("/", 1)[-1]
    used = sum(
        len(
            json.dumps(
                iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"],
                separators=(",", ":"),
            )
        )
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    )
    skeleton: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Pad", "Effect": "Deny", "Action": "s3:GetObject", "Resource": ""}],
    }
    filler = 10_240 - room - used - len(json.dumps(skeleton, separators=(",", ":")))
    skeleton["Statement"][0]["Resource"] = "arn:aws:s3:::" + "p" * (filler - 13)
    iam.put_role_policy(
        RoleName=name,
        PolicyName="padding",
        PolicyDocument=json.dumps(skeleton, separators=(",", ":")),
    )


class _DenyPutProxy(BaseHTTPRequestHandler):
    upstream = ""
    only_role = ""  # refuse only PutRolePolicy on this role name ("" = every role)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = parse_qs(body.decode())
        action = form.get("Action", [""])[0]
        role = form.get("RoleName", [""])[0]
        if action == "PutRolePolicy" and (not self.only_role or role == self.only_role):
            data = (
                b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
                b"<Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed"
                b"</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            )
            self._answer(403, data, "text/xml")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        req = urllib.request.Request(
            self.upstream + self.path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                self._answer(resp.status, resp.read(), resp.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, exc.read(), exc.headers.get("Content-Type", ""))

    def _answer(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def deny_put_proxy(upstream: str, only_role: str = "") -> Iterator[str]:
    """A loopback IAM endpoint that forwards to ``upstream`` but refuses PutRolePolicy (on
    every role, or only on ``only_role``)."""
    handler = type("Handler", (_DenyPutProxy,), {"upstream": upstream, "only_role": only_role})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
