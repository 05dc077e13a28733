"""AWS Lambda host: a Function URL or API Gateway HTTP API (payload format 2.0) event.

Handler: ``sentinelgw.service.lambda_handler.handler``. The service is built once per cold
start from the function's environment (see :mod:`sentinelgw.service.settings`) and reused by
every invocation of that instance.

The stack's EventBridge rule invokes the function every minute with ``{"sentinel": "sweep"}``
(:mod:`sentinelgw.service.deploy.schedule`): that event sweeps access requests (expiry without
traffic) and answers ``{"swept": N}``; a failing sweep is logged and retried next minute.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
from typing import Any

from sentinelgw.errors import SentinelError
from sentinelgw.service.api import HttpRequest, HttpResponse, ServiceApp
from sentinelgw.service.build import build_app
from sentinelgw.service.deploy.schedule import is_sweep_event
from sentinelgw.service.settings import settings_from
from sentinelgw.service.sweep import run_sweep

_APP: ServiceApp | None = None
_FUNCTION_URL = re.compile(r"^[a-z0-9]{1,64}\.lambda-url\.[a-z0-9-]{1,32}\.on\.aws$")


def request_from_event(event: dict[str, Any]) -> HttpRequest:
    """The :class:`HttpRequest` in a payload v2 event (headers are lower-case there)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = b"\0invalid base64"  # answered as "not JSON" by the core
    else:
        body = raw.encode("utf-8")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    domain = str((event.get("requestContext") or {}).get("domainName") or "").lower()
    # Lambda sets domainName to the Function URL the request came in on; a caller cannot.
    origin = f"https://{domain}" if _FUNCTION_URL.match(domain) else None
    return HttpRequest(
        method=str(http.get("method", "")),
        path=str(event.get("rawPath", "")),
        body=body,
        headers=headers,
        origin=origin,
        client_ip=str(http.get("sourceIp") or "") or None,
    )


def result_from_response(response: HttpResponse) -> dict[str, Any]:
    """The payload v2 result: a status, headers and a plain (not base64) JSON body."""
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.encode().decode("utf-8"),
        "isBase64Encoded": False,
    }


def app() -> ServiceApp:
    global _APP
    if _APP is None:
        _APP = build_app(settings_from({}, os.environ))
        _APP.sweep_on_request = True  # no timer in Lambda; the schedule and requests sweep
    return _APP


def handle_event(service: ServiceApp, event: dict[str, Any]) -> dict[str, Any]:
    return result_from_response(service.handle(request_from_event(event)))


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        service = app()
    except SentinelError as exc:
        # A misconfigured function answers every request with one JSON error (and says why
        # in its log), never with Lambda's bare 502 and a traceback.
        message = " ".join(str(exc).split())
        print(
            json.dumps({"event": "startup", "code": "ServiceMisconfigured", "message": message}),
            file=sys.stderr,
            flush=True,
        )
        body = {
            "code": "ServiceMisconfigured",
            "message": "the Sentinel service is not configured; see its log",
        }
        return result_from_response(HttpResponse(503, body, {"Content-Type": "application/json"}))

    if is_sweep_event(event):
        return sweep(service)
    return handle_event(service, event)


def sweep(service: ServiceApp) -> dict[str, Any]:
    """Run the access-request sweep once (the scheduled event); never raises."""

    return {"swept": run_sweep(service.service)}
