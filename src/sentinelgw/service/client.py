"""The client of the credential service, as ``sentinel exec --remote`` and ``credentials --remote``
use it. Every call carries a fresh proof signed with the user's own AWS credentials; the client
needs no DynamoDB or IAM permission, only the ability to sign (any valid credentials).

The service id the proof is bound to is the origin of the service URL it is sent to
(``https://host[:port]``), unless ``SENTINEL_REMOTE_SERVICE_ID`` or the user's own
``defaults.remote_service_id`` names another (never a project file's:
:mod:`sentinelgw.service.remote`). The client never takes it from the service, so a service
cannot obtain a proof that another service would accept.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import AWSError, PolicyDenied, UsageError
from sentinelgw.service.proof import build_proof

TIMEOUT = 10.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServiceRefused(PolicyDenied):
    """The service said no (401/403/404/409): exit 1, with the service's code and message."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"the Sentinel service refused ({code}): {message}")
        self.status = status
        self.code = code
        self.detail = message
        self.fields = fields or {}  # what the refusal names for the client (the MFA role)


class ServiceUnavailable(AWSError):
    """The service could not be reached or failed (5xx): exit 2."""

    def __init__(self, message: str, *, status: int = 503, code: str = "Unavailable") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class RemoteGrant:
    session_id: str
    credentials: AwsCredentials
    expires_at: str
    user: str
    role_arn: str
    source_identity: str
    renew_until: str | None = None  # a renewable session's latest possible end


def service_origin(url: str) -> str:
    """``scheme://host[:port]`` of a service URL, lower-case; refuses plain http off loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(
            f"invalid service URL {url!r}", hint="Use https://host/ (the service's Function URL)"
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise UsageError(
            f"refusing plain http to {parts.hostname}: proofs and credentials must travel over TLS",
            hint="Use the service's https URL",
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


class ServiceClient:
    """Calls the service at ``url``; ``signer`` gives the user's credentials for each proof."""

    def __init__(
        self,
        url: str,
        *,
        signer: Callable[[], Any],
        sts_url: str,
        region: str,
        service_id: str | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.base = url.rstrip("/")
        self.service_id = service_id or service_origin(url)
        service_origin(url)
        self.signer = signer
        self.sts_url = sts_url
        self.region = region
        self.timeout = timeout

    def _proof(self) -> dict[str, Any]:
        return build_proof(
            self.signer(), service_id=self.service_id, sts_url=self.sts_url, region=self.region
        )

    def start(
        self,
        profile: str,
        *,
        mode: str = "server",
        duration_seconds: int | None = None,
        renewable: bool = False,
    ) -> RemoteGrant:
        body: dict[str, Any] = {"profile": profile, "mode": mode}
        if duration_seconds is not None:
            body["duration_seconds"] = duration_seconds
        if renewable:
            body["renewable"] = True
        return _grant(self._post("/v1/sessions", body))

    def renew(self, session_id: str) -> dict[str, Any]:
        """Renew a renewable session: ``{session_id, status, expires_at, renew_until, ...}``."""
        return self._post(f"/v1/sessions/{session_id}/renew", {})

    def end(self, session_id: str, reason: str) -> dict[str, Any]:
        """End one of the caller's sessions; ``credentials_valid_until`` in the answer."""
        return self._post(f"/v1/sessions/{session_id}/end", {"reason": reason})

    def my_sessions(self, limit: int = 50) -> dict[str, Any]:
        return self._post("/v1/me/sessions", {"limit": limit})

    def decisions(self, profile: str | None = None) -> dict[str, Any]:
        """The service's read-only decisions for the caller (one profile, or all)."""
        return self._post("/v1/me/decisions", {"profile": profile} if profile else {})

    # -- access requests (require_approval profiles) ----------------------------------------

    def request_access(
        self, profile: str, justification: str, duration_seconds: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"profile": profile, "justification": justification}
        if duration_seconds is not None:
            body["duration_seconds"] = duration_seconds
        return self._post("/v1/requests", body)

    def access_requests(
        self, *, mine: bool = False, pending: bool = False, status: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mine": mine, "pending": pending}
        if status:
            body["status"] = status
        return self._post("/v1/me/requests", body)

    def access_request(self, request_id: str) -> dict[str, Any]:
        return self._post(f"/v1/requests/{request_id}", {})

    def decide_request(
        self, request_id: str, action: str, comment: str | None = None
    ) -> dict[str, Any]:
        """``approve``, ``deny`` or ``cancel`` a request; the updated request."""
        body = {"comment": comment} if comment else {}
        return self._post(f"/v1/requests/{request_id}/{action}", body)

    # -- break-glass -------------------------------------------------------------------------

    def open_breakglass(
        self,
        profile: str,
        reason_code: str,
        justification: str,
        duration_seconds: int | None,
        mfa_credentials: Any = None,
    ) -> dict[str, Any]:
        """Open a grant; ``mfa_credentials`` (a session of the document's MFA role) sign the
        MFA proof sent next to the caller's own proof."""
        body: dict[str, Any] = {
            "profile": profile,
            "reason_code": reason_code,
            "justification": justification,
        }
        if duration_seconds is not None:
            body["duration_seconds"] = duration_seconds
        if mfa_credentials is not None:
            body["mfa_proof"] = build_proof(
                mfa_credentials,
                service_id=self.service_id,
                sts_url=self.sts_url,
                region=self.region,
            )
        return self._post("/v1/breakglass", body)

    def breakglass_grants(self, status: str | None = None) -> dict[str, Any]:
        return self._post("/v1/me/breakglass", {"status": status} if status else {})

    def breakglass_grant(self, grant_id: str) -> dict[str, Any]:
        return self._post(f"/v1/breakglass/{grant_id}", {})

    def close_breakglass(self, grant_id: str, reason: str) -> dict[str, Any]:
        return self._post(f"/v1/breakglass/{grant_id}/close", {"reason": reason})

    def credentials(self, session_id: str) -> RemoteGrant:
        return _grant(self._post(f"/v1/sessions/{session_id}/credentials", {}))

    def revoke(self, session_id: str, reason: str) -> dict[str, Any]:
        return dict(self._post(f"/v1/sessions/{session_id}/revoke", {"reason": reason})["session"])

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps({**body, "proof": self._proof()}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        lambda_region = function_url_region(self.base)
        if lambda_region is not None:
            # A Function URL with AWS_IAM auth takes only SigV4-signed requests (service
            # "lambda"); the proof inside still authenticates the caller to the service.
            headers = _signed_for_lambda(
                self.signer(), self.base + path, payload, headers, lambda_region
            )
        request = urllib.request.Request(  # noqa: S310 - scheme checked by service_origin
            self.base + path, data=payload, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                return _decode(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                data = _decode(exc.code, exc.read(), error=True)
            raise _refusal(exc.code, data) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceUnavailable(
                f"cannot reach the Sentinel service at {self.base} ({reason})", code="Unreachable"
            ) from None


def _decode(status: int, raw: bytes, *, error: bool = False) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        if error:
            return {"code": f"HTTP{status}", "message": "the service answered without JSON"}
        raise ServiceUnavailable(f"the Sentinel service answered {status} without JSON")
    return data


def _refusal(status: int, data: dict[str, Any]) -> Exception:
    code = str(data.get("code") or f"HTTP{status}")[:64]
    message = " ".join(str(data.get("message") or "").split())[:1000]
    rid = data.get("request_id")
    if rid:
        message += f" (request {str(rid)[:32]})"
    if status >= 500:
        return ServiceUnavailable(
            f"the Sentinel service failed ({code}): {message}", status=status, code=code
        )
    fields = {k: str(v)[:2048] for k, v in data.items() if k == "mfa_role" and isinstance(v, str)}
    return ServiceRefused(status, code, message, fields)


def _grant(data: dict[str, Any]) -> RemoteGrant:
    try:
        c = data["credentials"]
        expiration = datetime.fromisoformat(str(c["Expiration"]).replace("Z", "+00:00"))
        return RemoteGrant(
            session_id=str(data["session_id"]),
            credentials=AwsCredentials(
                str(c["AccessKeyId"]),
                str(c["SecretAccessKey"]),
                str(c["SessionToken"]) or None,
                expiration,
            ),
            expires_at=str(data.get("expires_at", "")),
            user=str(data.get("user", "")),
            role_arn=str(data.get("role_arn", "")),
            source_identity=str(data.get("source_identity", "")),
            renew_until=str(data["renew_until"]) if data.get("renew_until") else None,
        )
    except (KeyError, TypeError, ValueError):
        raise ServiceUnavailable(
            "the Sentinel service answered without usable credentials"
        ) from None


_LAMBDA_URL = re.compile(r"^[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.on\.aws$")


def function_url_region(url: str) -> str | None:
    """The region of a Lambda Function URL (``<id>.lambda-url.<region>.on.aws``), else None."""
    m = _LAMBDA_URL.match((urlsplit(url).hostname or "").lower())
    return m.group("region") if m else None


def signing_region(url: str, fallback: str | None) -> str:
    """The region to sign proofs for: a Function URL names it, else the caller's region."""
    return function_url_region(url) or fallback or "us-east-1"


def _signed_for_lambda(
    credentials: Any, url: str, payload: bytes, headers: dict[str, str], region: str
) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=url, data=payload, headers=headers)
    SigV4Auth(credentials, "lambda", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def client_for_session(
    url: str, session: Any, *, region: str | None, service_id: str | None = None
) -> ServiceClient:
    """A client signing with ``session``'s credentials (refreshed by botocore as needed).

    The STS endpoint signed for is the one botocore resolves for the signing region, so
    ``AWS_ENDPOINT_URL[_STS]`` applies; the service replays only to its own endpoint anyway.
    """
    sign_region = signing_region(url, region)
    creds = session.get_credentials()
    if creds is None:
        raise AWSError(
            "no AWS credentials to prove who you are to the Sentinel service",
            hint="Configure your own credentials (a profile, SSO login or "
            "--aws-profile); they need no permission",
        )
    sts_url = session.client("sts", region_name=sign_region).meta.endpoint_url
    return ServiceClient(
        url,
        signer=creds.get_frozen_credentials,
        sts_url=sts_url,
        region=sign_region,
        service_id=service_id,
    )
