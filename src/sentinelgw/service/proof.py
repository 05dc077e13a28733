"""Caller authentication: a presigned ``sts:GetCallerIdentity`` request, built and verified.

The client signs ``POST / Action=GetCallerIdentity&Version=2011-06-15`` with SigV4 over its own
credentials, with an ``X-Sentinel-Service-Id`` header inside the signed headers, and sends the
method, URL, headers and body (not the secret key). The service checks the shape of that proof,
then replays it to *its own* configured STS endpoint (never the URL the caller sent) and reads
the caller's ARN from STS's answer. This is the scheme of Vault's AWS IAM auth method and of
aws-iam-authenticator.

Checks, in order, each a :class:`ProofError` with a stable ``code`` (HTTP 401, except
``StsUnavailable``: 503):

- ``ProofMalformed``: not an object of strings, unknown or duplicate header, wrong body or
  method, unparsable ``Authorization``;
- ``ProofTooLarge``: over the size limits;
- ``ProofWrongService``: the service-id header is missing, unsigned, or names another service;
- ``ProofWrongEndpoint``: signed for another STS host than the one the service uses;
- ``ProofStale``: ``X-Amz-Date`` further than the allowed skew in the past from the service's
  clock, or more than ``FUTURE_SKEW`` ahead of it;
- ``ProofRejected``: STS refused it (bad signature, unknown or expired key);
- ``ProofReplayed``: the same signature was already accepted within that window.

A signature is claimed in the replay cache only after STS accepted the proof: a proof STS
rejects costs nothing in the cache, so it cannot be filled without valid credentials, and a
rejected proof sent again is rejected again (``ProofRejected``), never ``ProofReplayed``.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import xml.etree.ElementTree as ET  # noqa: S405 - parses the configured STS endpoint's answer
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sentinelgw.service.refusal import Refusal

SERVICE_ID_HEADER = "X-Sentinel-Service-Id"
# A random value under the signature: two proofs made in the same second still differ, so
# the replay cache never refuses an honest second call.
NONCE_HEADER = "X-Sentinel-Nonce"
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
ALLOWED_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "content-length",
        "host",
        "user-agent",
        "x-amz-date",
        "x-amz-security-token",
        SERVICE_ID_HEADER.lower(),
        NONCE_HEADER.lower(),
    }
)
REQUIRED_SIGNED = ("host", "x-amz-date", SERVICE_ID_HEADER.lower())
MAX_HEADERS = 12
MAX_HEADER_VALUE = 8192
MAX_PROOF_CHARS = 16384
MAX_STS_RESPONSE = 65536
DEFAULT_MAX_SKEW = timedelta(minutes=5)
# A proof dated ahead of the service's clock would stay in the replay cache longer; honest
# clocks are synchronised well within this.
FUTURE_SKEW = timedelta(minutes=1)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})"
    r"/(?P<region>[a-z0-9-]{1,32})/sts/aws4_request, ?"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]{1,512}), ?Signature=(?P<sig>[0-9a-f]{64})$"
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


class ProofError(Refusal):
    """A proof was refused; ``code`` is stable, ``status`` the HTTP status to answer with."""

    def __init__(self, code: str, message: str, *, status: int = 401) -> None:
        super().__init__(status, code, message)


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof as it arrives: headers keyed by lower-case name."""

    method: str
    url: str
    headers: dict[str, str]
    body: str


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    """What STS said about the signer of a proof."""

    arn: str
    account: str
    user_id: str
    # The proof was signed with temporary credentials: a signed X-Amz-Security-Token that STS
    # accepted (STS rejects a session token beside a long-term key). For an IAM user's ARN
    # these come from sts:GetSessionToken (see sentinelgw.service.breakglass on MFA).
    temporary: bool = False


# -- client side --------------------------------------------------------------------------


def build_proof(credentials: Any, *, service_id: str, sts_url: str, region: str) -> dict[str, Any]:
    """A fresh proof over ``credentials`` (botocore credentials, frozen or not) as a JSON object.

    ``sts_url`` is the STS endpoint the service replays to; the signature covers its host.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = sts_url.rstrip("/") + "/"
    request = AWSRequest(
        method="POST",
        url=url,
        data=STS_BODY,
        headers={
            "Content-Type": CONTENT_TYPE,
            SERVICE_ID_HEADER: service_id,
            NONCE_HEADER: os.urandom(16).hex(),
        },
    )
    SigV4Auth(credentials, "sts", region).add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    headers.setdefault("Host", urlsplit(url).netloc)
    return {"method": "POST", "url": url, "headers": headers, "body": STS_BODY}


# -- server side: shape -------------------------------------------------------------------


def parse_proof(raw: object) -> Proof:
    """Check the shape and size of a proof object; raises :class:`ProofError`."""
    if not isinstance(raw, dict):
        raise ProofError(
            "ProofMalformed",
            "the request has no caller proof object; use a current sentinel client",
        )
    if set(raw) - {"method", "url", "headers", "body"}:
        raise ProofError("ProofMalformed", "the caller proof has unknown fields")
    method, url, body, headers = (raw.get(k) for k in ("method", "url", "body", "headers"))
    if not all(isinstance(v, str) for v in (method, url, body)) or not isinstance(headers, dict):
        raise ProofError(
            "ProofMalformed",
            "the caller proof needs method, url and body strings and a headers object",
        )
    assert isinstance(method, str) and isinstance(url, str) and isinstance(body, str)
    size = len(method) + len(url) + len(body)
    if len(headers) > MAX_HEADERS:
        raise ProofError("ProofTooLarge", f"the caller proof has more than {MAX_HEADERS} headers")
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ProofError("ProofMalformed", "caller proof headers must be strings")
        size += len(name) + len(value)
        if len(value) > MAX_HEADER_VALUE or size > MAX_PROOF_CHARS:
            raise ProofError("ProofTooLarge", "the caller proof is larger than allowed")
        key = name.lower()
        if not _HEADER_NAME.match(name) or key not in ALLOWED_HEADERS:
            raise ProofError("ProofMalformed", "the caller proof has a header that is not allowed")
        if key in lowered:
            raise ProofError("ProofMalformed", "the caller proof repeats a header")
        if not value.isascii() or not value.isprintable():
            # STS takes ASCII headers only: such a proof could never verify, and sending it
            # on would fail as a false "STS unavailable".
            raise ProofError(
                "ProofMalformed",
                "a caller proof header holds a control or non-ASCII character",
            )
        lowered[key] = value
    if size > MAX_PROOF_CHARS:
        raise ProofError("ProofTooLarge", "the caller proof is larger than allowed")
    if method != "POST" or body != STS_BODY:
        raise ProofError(
            "ProofMalformed",
            "the caller proof must be POST Action=GetCallerIdentity&Version=2011-06-15",
        )
    return Proof(method=method, url=url, headers=lowered, body=body)


@dataclass(frozen=True, slots=True)
class _Signed:
    signature: str
    amz_date: datetime


def check_proof(
    proof: Proof,
    *,
    service_id: str,
    sts_host: str,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    also: str | None = None,
) -> _Signed:
    """Pure checks of a parsed proof against this service; raises :class:`ProofError`.

    ``also`` is a second accepted service id: the origin a platform says the service was
    reached at (a Lambda Function URL), which the caller cannot choose.
    """
    m = _AUTH.match(proof.headers.get("authorization", ""))
    if m is None:
        raise ProofError(
            "ProofMalformed", "the caller proof has no valid SigV4 Authorization header for sts"
        )
    signed = m.group("signed").split(";")
    claimed = proof.headers.get(SERVICE_ID_HEADER.lower())
    if claimed is None or SERVICE_ID_HEADER.lower() not in signed:
        raise ProofError(
            "ProofWrongService", f"the caller proof does not sign the {SERVICE_ID_HEADER} header"
        )
    accepted = [service_id] + ([also] if also else [])
    if not any(hmac.compare_digest(claimed.encode(), a.encode()) for a in accepted):
        raise ProofError(
            "ProofWrongService",
            f"the caller proof is for service {claimed!r}, "
            f"not this service ({service_id!r}); set "
            "SENTINEL_REMOTE_SERVICE_ID to this service's id",
        )
    missing = [h for h in REQUIRED_SIGNED if h not in signed or h not in proof.headers]
    if missing:
        raise ProofError("ProofMalformed", f"the caller proof does not sign {', '.join(missing)}")
    if proof.headers["host"].lower() != sts_host.lower():
        raise ProofError(
            "ProofWrongEndpoint",
            f"the caller proof is signed for STS host "
            f"{proof.headers['host']!r}; this service uses "
            f"{sts_host!r}; set the client's region or "
            "AWS_ENDPOINT_URL_STS to match",
        )
    try:
        at = datetime.strptime(proof.headers["x-amz-date"], _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise ProofError(
            "ProofMalformed", "the caller proof's X-Amz-Date is not YYYYMMDDTHHMMSSZ"
        ) from None
    if at.strftime("%Y%m%d") != m.group("date"):
        raise ProofError("ProofMalformed", "the caller proof's date and credential scope differ")
    if now - at > max_skew or at - now > min(max_skew, FUTURE_SKEW):
        raise ProofError(
            "ProofStale",
            f"the caller proof was signed at {at:%Y-%m-%dT%H:%M:%SZ}, "
            f"more than {int(max_skew.total_seconds())}s before or "
            f"{int(min(max_skew, FUTURE_SKEW).total_seconds())}s after the "
            "service's clock; check the client's clock",
        )
    return _Signed(signature=m.group("sig"), amz_date=at)


class ReplayCache:
    """Signatures accepted within the freshness window; a second use is refused.

    Bounded: entries older than the window are dropped, and when ``limit`` live entries are
    held new proofs are refused (fail closed) rather than forgetting live ones.
    """

    def __init__(self, window: timedelta = DEFAULT_MAX_SKEW, limit: int = 200_000) -> None:
        self.window = window
        self.limit = limit
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, signature: str, signed_at: datetime, now: datetime) -> None:
        """Record ``signature``; raises ProofReplayed if it was seen before."""
        with self._lock:
            if signature in self._seen:
                raise ProofError(
                    "ProofReplayed",
                    "this caller proof was already used; every call needs a fresh proof",
                )
            if len(self._seen) >= self.limit:
                cutoff = now - 2 * self.window
                self._seen = {s: t for s, t in self._seen.items() if t >= cutoff}
                if len(self._seen) >= self.limit:
                    raise ProofError(
                        "ProofReplayCacheFull",
                        "the service is receiving more proofs than it can track; try again shortly",
                        status=503,
                    )
            self._seen[signature] = signed_at


# -- server side: STS ---------------------------------------------------------------------

Transport = Callable[[str, dict[str, str], bytes], tuple[int, bytes]]
"""``(url, headers, body) -> (status, body)``: one POST to the STS endpoint."""


def botocore_transport(timeout: float = 5.0) -> Transport:
    """A pooled HTTP transport (botocore's urllib3 session), verifying TLS."""
    from botocore.awsrequest import AWSRequest
    from botocore.httpsession import URLLib3Session

    session = URLLib3Session(timeout=timeout, max_pool_connections=32)

    def send(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        request = AWSRequest(method="POST", url=url, data=body, headers=headers).prepare()
        response = session.send(request)
        return int(response.status_code), bytes(response.content[: MAX_STS_RESPONSE + 1])

    return send


def ask_sts(proof: Proof, sts_url: str, transport: Transport) -> VerifiedCaller:
    """Replay the proof to ``sts_url`` (the service's own endpoint) and parse the answer."""
    headers = {
        name: value
        for name, value in proof.headers.items()
        if name not in ("content-length", "host")
    }
    headers["host"] = urlsplit(sts_url).netloc
    try:
        status, body = transport(sts_url, headers, proof.body.encode())
    except Exception as exc:  # connection refused, timeout, TLS: STS is unreachable
        raise ProofError(
            "StsUnavailable",
            f"the service could not reach STS to verify the caller ({type(exc).__name__})",
            status=503,
        ) from None
    if len(body) > MAX_STS_RESPONSE:
        raise ProofError("StsUnavailable", "STS answered with an oversized body", status=503)
    if status == 200:
        return _parse_identity(body)
    code = _sts_error_code(body)
    if status in (400, 403) and code:
        raise ProofError(
            "ProofRejected",
            f"STS rejected the caller proof ({code}); refresh the client's AWS credentials",
        )
    raise ProofError(
        "StsUnavailable", f"STS answered {status} while verifying the caller", status=503
    )


def _parse_identity(body: bytes) -> VerifiedCaller:
    try:
        root = ET.fromstring(body)  # noqa: S314 - the configured STS endpoint's answer
    except ET.ParseError:
        raise ProofError("StsUnavailable", "STS answered with unreadable XML", status=503) from None
    fields = {el.tag.replace(_STS_NS, ""): (el.text or "").strip() for el in root.iter()}
    arn, account = fields.get("Arn", ""), fields.get("Account", "")
    if not arn.startswith("arn:") or not account:
        raise ProofError("StsUnavailable", "STS answered without a caller ARN", status=503)
    return VerifiedCaller(arn=arn, account=account, user_id=fields.get("UserId", ""))


def _sts_error_code(body: bytes) -> str | None:
    m = re.search(rb"<Code>([A-Za-z0-9.]{1,64})</Code>", body[:MAX_STS_RESPONSE])
    return m.group(1).decode() if m else None


@dataclass
class ProofVerifier:
    """Everything the service needs to turn a proof into a verified caller."""

    service_id: str
    sts_url: str
    transport: Transport
    max_skew: timedelta = DEFAULT_MAX_SKEW
    replay: ReplayCache | None = None

    def __post_init__(self) -> None:
        if self.replay is None:
            self.replay = ReplayCache(self.max_skew)
        self.sts_host = urlsplit(self.sts_url).netloc

    def verify(self, raw: object, now: datetime, *, also: str | None = None) -> VerifiedCaller:
        proof = parse_proof(raw)
        signed = check_proof(
            proof,
            service_id=self.service_id,
            sts_host=self.sts_host,
            now=now,
            max_skew=self.max_skew,
            also=also,
        )
        verified = ask_sts(proof, self.sts_url, self.transport)
        auth = _AUTH.match(proof.headers.get("authorization", ""))
        if proof.headers.get("x-amz-security-token") and auth is not None:
            signed_names = auth.group("signed").split(";")
            if "x-amz-security-token" in signed_names:
                verified = replace(verified, temporary=True)
        # Only a proof STS accepted takes a place in the cache (see the module docstring).
        assert self.replay is not None
        self.replay.claim(signed.signature, signed.amz_date, now)
        return verified
