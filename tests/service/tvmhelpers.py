"""Helpers for the service tests: raw HTTP calls and clients as a given boto3 session."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from sentinelgw.service.client import ServiceClient
from sentinelgw.service.proof import build_proof


def client(enforced: Any, session: Any, **kw: Any) -> ServiceClient:
    creds = session.get_credentials()
    return ServiceClient(
        enforced.url,
        signer=creds.get_frozen_credentials,
        sts_url=enforced.endpoint,
        region="us-east-1",
        **kw,
    )


def proof(enforced: Any, session: Any, service_id: str | None = None) -> dict[str, Any]:
    creds = session.get_credentials().get_frozen_credentials()
    return build_proof(
        creds, service_id=service_id or enforced.url, sts_url=enforced.endpoint, region="us-east-1"
    )


def call(
    url: str,
    path: str,
    body: bytes | dict | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)


def log_lines(enforced: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in enforced.log.read_text().splitlines() if line.strip()]


def held_client(enforced: Any, credentials: Any, service: str) -> Any:
    """A boto3 client signing with credentials the service issued (a session's ``credentials``)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=enforced.endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def wait_for(check: Callable[[], Any], timeout: float = 8.0) -> Any:
    """``check()`` every 0.3 s until it is truthy or ``timeout`` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.3)
