"""The AWS federation sign-in endpoint, emulated so ``sentinel login`` works in the sandbox.

``GET /federation?Action=getSigninToken&Session={...}`` answers ``{"SigninToken": ...}`` for
role session credentials the sandbox issued (the real endpoint refuses long-term keys too);
``GET /federation?Action=login&SigninToken=...`` answers a small page naming the session, in
place of the console. Tokens live 15 minutes and are kept in memory. The sandbox's
environment sets ``SENTINEL_FEDERATION_ENDPOINT`` to this path. NOT FOR PRODUCTION: the
secret key is not checked, only that the access key is a role session the sandbox knows.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from sentinelgw.sandbox.recorder import CloudTrailRecorder

PATH = "/federation"
TOKEN_SECONDS = 15 * 60


class FederationEndpoint:
    def __init__(self, recorder: CloudTrailRecorder) -> None:
        self.recorder = recorder
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (session ARN, expiry)
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        action = query.get("Action")
        if action == "getSigninToken":
            return self._token(query.get("Session", ""), start_response)
        if action == "login":
            return self._login(query.get("SigninToken", ""), start_response)
        return _answer(start_response, 400, "text/plain", "unknown Action\n")

    def _token(self, session: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            doc = json.loads(session)
            key_id = str(doc["sessionId"])
            has_token = bool(doc.get("sessionToken"))
        except (ValueError, KeyError, TypeError):
            return _answer(start_response, 400, "text/plain", "malformed Session\n")
        identity = self.recorder.known_identity(key_id) or self.recorder.identity_for(key_id)
        if not has_token or identity.type != "AssumedRole":
            # As AWS: only temporary role (or federation) credentials can sign in.
            return _answer(start_response, 400, "text/plain", "invalid Session\n")
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (identity.arn, now + TOKEN_SECONDS)
        body = json.dumps({"SigninToken": token})
        return _answer(start_response, 200, "application/json", body)

    def _login(self, token: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] <= time.monotonic():
            return _answer(start_response, 400, "text/plain", "invalid or expired SigninToken\n")
        page = (
            "<!doctype html><title>Sentinel sandbox console</title>"
            f"<p>Signed in to the sandbox console as {html.escape(found[0])}.</p>"
            "<p>NOT a real AWS console: the sandbox emulates the sign-in only.</p>\n"
        )
        return _answer(start_response, 200, "text/html; charset=utf-8", page)


def _answer(
    start_response: Callable[..., Any], status: int, content_type: str, text: str
) -> Iterable[bytes]:
    data = text.encode()
    reason = {200: "OK", 400: "Bad Request"}.get(status, "Error")
    start_response(
        f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    )
    return [data]
