"""The HTTP API as one pure function: a request in, a response out, one log line per decision.

Every host (Lambda, WSGI, the sandbox) turns its own request shape into :class:`HttpRequest`
and writes :class:`HttpResponse` back; nothing here knows which host it runs in.

================================================  ==========================================
``POST /v1/sessions``                             ``{proof, profile, mode?, duration_seconds?}``
``POST /v1/sessions/{id}/credentials``            ``{proof}``
``POST /v1/sessions/{id}/revoke``                 ``{proof, reason}``
``POST /v1/sessions/{id}/renew``                  ``{proof}``: a renewable session's next lease
``POST /v1/sessions/{id}/end``                    ``{proof, reason?}``: its creator ends it
``POST /v1/me/sessions``                          ``{proof, limit?}``: the caller's sessions
``POST /v1/me/decisions``                         ``{proof, profile?}``: read-only decisions
``POST /v1/requests``                             ``{proof, profile, justification,
                                                  duration_seconds?}``: ask for access
``POST /v1/me/requests``                          ``{proof, mine?, pending?, status?}``
``POST /v1/requests/{id}``                        ``{proof}``: one request
``POST /v1/requests/{id}/{approve|deny|cancel}``  ``{proof, comment?}``
``POST /v1/breakglass``                           ``{proof, profile, reason_code,
                                                  justification, duration_seconds?,
                                                  mfa_proof?}``
``POST /v1/me/breakglass``                        ``{proof, status?}``: grants to see
``POST /v1/breakglass/{id}``                      ``{proof}``: one break-glass grant
``POST /v1/breakglass/{id}/close``                ``{proof, reason}``
``GET  /v1/health``                               readiness, no secrets
================================================  ==========================================

Errors are ``{"code", "message", "request_id"}`` with the matching status. A bug answers 500
``InternalError`` with the request id only: the log line carries the exception type. Every
decision line names the client address and its User-Agent, escaped and cut to
``MAX_LOGGED_AGENT`` characters (both are the caller's to choose, so they are evidence, not
identity).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sentinelgw.inert import visible
from sentinelgw.service.caller import Caller, IdentityCenterCheck, caller_from_arn
from sentinelgw.service.checks import Grant
from sentinelgw.service.core import SentinelService
from sentinelgw.service.mfa_role import MfaRoleCheck
from sentinelgw.service.proof import ProofError, ProofVerifier, VerifiedCaller
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.sweep import maybe_sweep
from sentinelgw.sourceidentity import new_id
from sentinelgw.timeutil import iso

MAX_BODY = 64 * 1024
MAX_LOGGED_AGENT = 256
REQUEST_ID_HEADER = "X-Sentinel-Request-Id"
_SESSION_CALL = re.compile(
    r"^/v1/sessions/(?P<id>[^/]{1,64})/(?P<call>credentials|revoke|renew|end)$"
)
# The caller's own views: read-only, and still each needs a proof.
_CALLER_VIEWS = {
    "/v1/me/sessions": "my_sessions",
    "/v1/me/decisions": "my_decisions",
    "/v1/me/requests": "my_requests",
}
# Access requests (sentinelgw.service.access).
# Break-glass (sentinelgw.service.breakglass).
_BREAKGLASS_CALL = re.compile(r"^/v1/breakglass/(?P<id>[^/]{1,64})(?:/(?P<call>close))?$")
_REQUEST_CALL = re.compile(r"^/v1/requests/(?P<id>[^/]{1,64})(?:/(?P<call>approve|deny|cancel))?$")
LOG_FIELDS = (
    "time",
    "request_id",
    "event",
    "status",
    "code",
    "user",
    "caller_arn",
    "profile",
    "role_arn",
    "session_id",
    "rule",
    "message",
    "error",
    "client_ip",
    "user_agent",
    "access_request",
    "decision",
    "comment",
    "breakglass",
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    # The origin the host was reached at, set only by hosts where the platform (not the
    # caller) names it, such as a Lambda Function URL's domain. Proofs for it are accepted too.
    origin: str | None = None
    # The address the connection came from, as the host saw it (None when it cannot say).
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


class ServiceLog:
    """One JSON object per line per decision; only the LOG_FIELDS, never a credential."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        record = {k: entry[k] for k in LOG_FIELDS if entry.get(k) is not None}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # logging never breaks a decision


@dataclass
class ServiceApp:
    service: SentinelService
    verifier: ProofVerifier
    log: ServiceLog
    clock: Callable[[], datetime]
    # Confirms AWSReservedSSO_* roles (see sentinelgw.service.caller); None trusts none.
    identity_center: IdentityCenterCheck | None = None
    # Reads the break-glass MFA role (sentinelgw.service.mfa_role); None: MFA cannot be verified.
    mfa_roles: MfaRoleCheck | None = None
    # Sweep access requests after a request when the last sweep is old (a Lambda host:
    # sentinelgw.service.sweep.maybe_sweep); a long-running host sweeps on a timer instead.
    sweep_on_request: bool = False

    def __post_init__(self) -> None:
        if self.service.event_log is None:
            self.service.event_log = self.log.write

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = new_id()
        note: dict[str, Any] = {"request_id": request_id}
        if request.client_ip:
            note["client_ip"] = visible(request.client_ip)[:64]
        agent = request.headers.get("user-agent")
        if agent:
            note["user_agent"] = visible(agent[: MAX_LOGGED_AGENT * 2])[:MAX_LOGGED_AGENT]
        extra: dict[str, str] = {}
        try:
            status, body = self._route(request, note)
        except Refusal as exc:
            status, body = exc.status, {**exc.fields, "code": exc.code, "message": exc.message}
            note.update(code=exc.code, message=exc.message)
            if exc.detail:
                note["error"] = exc.detail
            extra = dict(exc.headers)
        except Exception as exc:  # a bug: the log names the type, the caller gets the id
            status, body = (
                500,
                {
                    "code": "InternalError",
                    "message": "the service failed; quote the request id to its operators",
                },
            )
            note.update(code="InternalError", error=type(exc).__name__)
        body["request_id"] = request_id
        note.update(status=status, time=iso(self.clock()))
        if note.get("event"):
            self.log.write(note)
        if self.sweep_on_request:
            maybe_sweep(self.service)
        return HttpResponse(
            status,
            body,
            {
                REQUEST_ID_HEADER: request_id,
                "Content-Type": "application/json",
                "Cache-Control": "no-store",
                **extra,
            },
        )

    def _route(self, request: HttpRequest, note: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        path = request.path
        if path == "/v1/health":
            _method(request, "GET")
            health = self.service.healthy()
            return (200 if health["status"] == "ok" else 503), health
        m = _SESSION_CALL.match(path)
        view = _CALLER_VIEWS.get(path)
        r = _REQUEST_CALL.match(path)
        if path == "/v1/requests" or r is not None:
            return self._request_route(request, r, note)
        b = _BREAKGLASS_CALL.match(path)
        if path in ("/v1/breakglass", "/v1/me/breakglass") or b is not None:
            return self._breakglass_route(request, b, note)
        if path != "/v1/sessions" and m is None and view is None:
            raise Refusal(404, "NotFound", "unknown path; the API is under /v1")
        _method(request, "POST")
        note["event"] = view or ("session_create" if m is None else f"session_{m.group('call')}")
        body = _json_body(request.body)
        caller = self._admitted(request, body, note)
        if view == "my_sessions":
            return 200, self.service.sessions(caller, body, note)
        if view == "my_decisions":
            return 200, self.service.decisions(caller, body, note)
        if view == "my_requests":
            return 200, self.service.requests.listing(caller, body, note)
        if m is None:
            return 201, _grant_body(self.service.create_session(caller, body, note))
        if m.group("call") == "credentials":
            return 200, _grant_body(self.service.credentials(caller, m.group("id"), note))
        if m.group("call") == "renew":
            return 200, self.service.renew(caller, m.group("id"), note)
        if m.group("call") == "end":
            return 200, self.service.end(caller, m.group("id"), body, note)
        return 200, self.service.revoke(caller, m.group("id"), body, note)

    def _breakglass_route(
        self, request: HttpRequest, b: re.Match[str] | None, note: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        return _breakglass_call(self, request, b, note)

    def _admitted(self, request: HttpRequest, body: dict[str, Any], note: dict[str, Any]) -> Caller:
        """The caller the body's proof verifies (bound to the request's origin), noted in the
        log line and admitted (rate limit, blocks) before any call does its work."""
        caller = caller_from_arn(
            self.verifier.verify(body.get("proof"), self.clock(), also=request.origin),
            self.identity_center,
        )
        note.update(user=caller.user, caller_arn=caller.arn)
        self.service.admit(caller)
        return caller

    def verify_mfa_proof(self, request: HttpRequest, raw: object) -> VerifiedCaller:
        """The signer of a break-glass MFA proof, verified as any proof (by STS)."""
        try:
            return self.verifier.verify(raw, self.clock(), also=request.origin)
        except ProofError as exc:
            raise ProofError(exc.code, f"the MFA proof: {exc.message}", status=exc.status) from None

    def _request_route(
        self, request: HttpRequest, r: re.Match[str] | None, note: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        _method(request, "POST")
        call = None if r is None else (r.group("call") or "show")
        note["event"] = "request_create" if r is None else f"request_{call}"
        body = _json_body(request.body)
        caller = self._admitted(request, body, note)
        requests = self.service.requests
        if r is None:
            return 201, requests.create(caller, body, note)
        if call == "show":
            return 200, requests.show(caller, r.group("id"), note)
        assert call is not None
        return 200, requests.decide(caller, r.group("id"), call, body, note)


def _breakglass_call(
    app: ServiceApp, request: HttpRequest, b: re.Match[str] | None, note: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    _method(request, "POST")
    call = "list" if b is None and request.path.startswith("/v1/me/") else None
    call = call or ("open" if b is None else (b.group("call") or "show"))
    note["event"] = f"breakglass_{call}"
    body = _json_body(request.body)
    caller = app._admitted(request, body, note)
    glass = app.service.breakglass
    if call == "open":
        raw = body.get("mfa_proof")
        mfa = None if raw is None else app.verify_mfa_proof(request, raw)
        return 201, glass.open(caller, body, note, mfa, app.mfa_roles)
    if call == "list":
        return 200, glass.listing(caller, body, note)
    assert b is not None
    if call == "show":
        return 200, glass.show(caller, b.group("id"), note)
    return 200, glass.close(caller, b.group("id"), body, note)


def _method(request: HttpRequest, allowed: str) -> None:
    if request.method.upper() != allowed:
        raise Refusal(405, "MethodNotAllowed", f"use {allowed} for this path")


def _json_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise Refusal(413, "TooLarge", f"the request body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refusal(400, "BadRequest", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "BadRequest", "the request body must be a JSON object")
    return body


def _grant_body(grant: Grant) -> dict[str, Any]:
    c = grant.credentials
    return {
        "session_id": grant.session_id,
        "expires_at": iso(grant.expires_at),
        "user": grant.user,
        "profile": grant.profile,
        "role_arn": grant.role_arn,
        "source_identity": grant.source_identity,
        "renew_until": iso(grant.renew_until) if grant.renew_until else None,
        "credentials": {
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key,
            "SessionToken": c.session_token or "",
            "Expiration": iso(c.expiration) if c.expiration else None,
        },
    }
