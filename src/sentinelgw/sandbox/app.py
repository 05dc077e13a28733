"""The sandbox's WSGI middleware in front of moto's dispatcher.

A request signed with a key the sandbox issued through AssumeRole is recorded as a CloudTrail
event after it is answered (:mod:`sentinelgw.sandbox.calls`).

Routing, in order: the SSO portal (``GET /federation/credentials``), CloudTrail LookupEvents
(by ``X-Amz-Target``), the index lag (below), the revocation front
(:mod:`sentinelgw.sandbox.revocation_enforcer`: the revocation policies, and AccessDenied
for the sessions they name), STS AssumeRole (recorded after moto answers it), and everything
else straight to moto, which picks the service from the SigV4 credential scope as usual. An
AssumeRole of a role whose trust policy requires MFA is checked first as STS would
(:mod:`sentinelgw.sandbox.mfa`: the MFA code, the device, the session name).

Index lag: DynamoDB updates a global secondary index eventually, moto at once. With
``index_lag`` set to N seconds (tests set it on the running sandbox with
:meth:`sentinelgw.sandbox.core.Sandbox.lag_index`), a Query on any index leaves out the items
whose ``started_at`` is less than N seconds old, as a lagging index would. Reads of the table
itself (GetItem) are not affected.
"""

from __future__ import annotations

import io
import json
import logging
import re
import xml.etree.ElementTree as ET  # noqa: S405 - parses only moto's own responses
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from werkzeug.test import EnvironBuilder, run_wsgi_app

from sentinelgw.sandbox.calls import ApiCall, action_of, error_of, s3_resources
from sentinelgw.sandbox.lookup import TARGET as LOOKUP_TARGET
from sentinelgw.sandbox.lookup import handle_lookup
from sentinelgw.sandbox.mfa import access_denied, assume_refusal
from sentinelgw.sandbox.recorder import AssumeRoleCall, CloudTrailRecorder, Identity
from sentinelgw.sandbox.revocation_enforcer import RevocationFront
from sentinelgw.sandbox.signin import FederationEndpoint
from sentinelgw.sandbox.sso import SSOPortal

log = logging.getLogger("sentinelgw.sandbox")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SSO_TOKEN_ENVIRON_KEY = "sentinelgw.sso_bearer_token"
_QUERY_TARGET = "DynamoDB_20120810.Query"
_PUT_ITEM_TARGET = "DynamoDB_20120810.PutItem"
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def credential_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) from a SigV4 Authorization header."""
    m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (m.group(1), m.group(2), m.group(3)) if m else None


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto can still read it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = (
        stream.read(length)
        if length > 0
        else (stream.read() if environ.get("wsgi.input_terminated") else b"")
    )
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml_fields(body: bytes) -> dict[str, str]:
    """Leaf element texts of an STS query-protocol response, by local name (first wins)."""
    out: dict[str, str] = {}
    root = ET.fromstring(body)  # noqa: S314 - moto's own response, not user input
    for el in root.iter():
        name = _local(el.tag)
        if len(el) == 0 and el.text is not None and name not in out:
            out[name] = el.text.strip()
    return out


class MotoCaller:
    """Calls moto's WSGI app in-process, bypassing the middleware (so nothing is recorded)."""

    def __init__(self, moto_app: WSGIApp, account_id: str) -> None:
        self.moto_app = moto_app
        self.account_id = account_id

    def query(
        self, service: str, form: dict[str, str], access_key_id: str, region: str
    ) -> tuple[int, bytes]:
        date = datetime.now(UTC).strftime("%Y%m%d")
        auth = (
            f"AWS4-HMAC-SHA256 Credential={access_key_id}/{date}/{region}/{service}/"
            "aws4_request, SignedHeaders=host, Signature=0"
        )
        headers = [("Authorization", auth), ("Host", f"{service}.{region}.amazonaws.com")]
        builder = EnvironBuilder(path="/", method="POST", data=dict(form), headers=headers)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        app_iter, status, _headers = run_wsgi_app(self.moto_app, environ, buffered=True)
        body = b"".join(app_iter)
        return int(status.split()[0]), body

    def resolve(self, access_key_id: str) -> Identity | None:
        """Ask moto's GetCallerIdentity who owns a key the recorder has not seen."""
        try:
            status, body = self.query(
                "sts",
                {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                access_key_id,
                "us-east-1",
            )
            if status != 200:
                return None
            fields = parse_xml_fields(body)
        except Exception as exc:  # a resolution failure must not fail the caller's request
            log.warning("could not resolve access key owner: %s", type(exc).__name__)
            return None
        arn = fields.get("Arn", "")
        account = fields.get("Account", self.account_id)
        if ":assumed-role/" in arn:
            role = arn.split(":assumed-role/", 1)[1].split("/")[0]
            return Identity(
                type="AssumedRole",
                principal_id=fields.get("UserId", ""),
                arn=arn,
                account_id=account,
                issuer_role_arn=f"arn:aws:iam::{account}:role/{role}",
            )
        return Identity(
            type="IAMUser",
            principal_id=fields.get("UserId", ""),
            arn=arn,
            account_id=account,
            user_name=arn.rsplit("/", 1)[-1] or None,
        )


class SandboxApp:
    """The WSGI application the sandbox's HTTP server runs."""

    def __init__(
        self, moto_app: WSGIApp, recorder: CloudTrailRecorder, sso: SSOPortal | None = None
    ) -> None:
        self.moto_app = moto_app
        self.recorder = recorder
        self.sso = sso

        self.revocations = RevocationFront(recorder, recorder.account_id, _read_body)
        # Seconds a session record takes to show in an index query (0: at once, as moto).
        self.index_lag = 0.0
        # Tests: called with each DynamoDB PutItem request body before moto stores the item
        # (to make something happen "at the same moment", such as a block).
        self.before_put_item: Callable[[dict[str, Any]], None] | None = None
        self.federation = FederationEndpoint(recorder)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        scope = credential_scope(environ)
        if scope is None or not self.recorder.is_issued(scope[0]):
            return self._route(environ, start_response)
        return self._recorded(environ, start_response, scope)

    def _recorded(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        scope: tuple[str, str, str],
    ) -> Iterable[bytes]:
        """Answer a request signed with an issued key, and record it as a CloudTrail event."""
        form_body = (
            _read_body(environ)
            if "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", ""))
            else b""
        )
        action = action_of(environ, scope[2], form_body)
        path = str(environ.get("PATH_INFO", "/"))
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        app_iter = self._route(environ, capture)
        try:
            chunks.extend(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        body = b"".join(chunks)
        status = str(captured.get("status", "500 INTERNAL SERVER ERROR"))
        code = int(status.split()[0]) if status.split()[0].isdigit() else 500
        already = scope[2] == "sts" and action == "AssumeRole" and code == 200
        if not already:  # a successful AssumeRole was recorded in its own shape
            try:
                error, message = error_of(code, body)
                resources, params = s3_resources(path) if scope[2] == "s3" else ((), None)
                self.recorder.record_call(
                    ApiCall(
                        access_key_id=scope[0],
                        region=scope[1],
                        service=scope[2],
                        action=action,
                        status=code,
                        error_code=error,
                        error_message=message,
                        source_ip=str(environ.get("REMOTE_ADDR", "127.0.0.1")),
                        user_agent=str(environ.get("HTTP_USER_AGENT", "")),
                        resources=resources,
                        request_parameters=params,
                    )
                )
            except Exception as exc:  # recording must never break the answer itself
                log.warning("could not record a call: %s", type(exc).__name__)
        start_response(status, captured.get("headers", []))
        return [body]

    def _route(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == "/federation/credentials" and method == "GET" and self.sso is not None:
            return self._sso(environ, start_response, self.sso)
        if path == "/federation" and method == "GET":
            return self.federation(environ, start_response)
        if method == "POST" and environ.get("HTTP_X_AMZ_TARGET") == LOOKUP_TARGET:
            status, payload = handle_lookup(self.recorder, _read_body(environ))
            extra = {"x-amzn-ErrorType": payload["__type"]} if status != 200 else {}
            return _json(start_response, status, payload, extra, "application/x-amz-json-1.1")
        scope = credential_scope(environ)
        if self.index_lag > 0 and environ.get("HTTP_X_AMZ_TARGET") == _QUERY_TARGET:
            return self._lagging_query(environ, start_response, self.index_lag)
        hook = self.before_put_item
        if hook is not None and environ.get("HTTP_X_AMZ_TARGET") == _PUT_ITEM_TARGET:
            hook(json.loads(_read_body(environ) or b"{}"))
        if scope is not None:
            answer = self.revocations.handle(environ, start_response, scope, self.moto_app)
            if answer is not None:
                return answer
        if method == "POST" and scope is not None and scope[2] == "sts":
            body = _read_body(environ)
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            if form.get("Action") == "AssumeRole":
                return self._assume_role(environ, start_response, form, scope)
        return self.moto_app(environ, start_response)

    def _lagging_query(
        self, environ: dict[str, Any], start_response: Callable[..., Any], lag: float
    ) -> Iterable[bytes]:
        import time

        request = json.loads(_read_body(environ) or b"{}")
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.moto_app(environ, capture))
        status = str(captured.get("status", "500 INTERNAL SERVER ERROR"))
        headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() != "content-length"]
        if status.startswith("200") and request.get("IndexName"):
            answer = json.loads(body)
            cutoff = time.time() - lag
            kept = [
                item
                for item in answer.get("Items", [])
                if float(item.get("started_at", {}).get("N", "0")) <= cutoff
            ]
            answer["Items"], answer["Count"] = kept, len(kept)
            body = json.dumps(answer).encode()
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _sso(
        self, environ: dict[str, Any], start_response: Callable[..., Any], sso: SSOPortal
    ) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        status, headers, payload = sso.get_role_credentials(
            environ.get(SSO_TOKEN_ENVIRON_KEY),
            (query.get("role_name") or [None])[0],
            (query.get("account_id") or [None])[0],
        )
        return _json(start_response, status, payload, headers, "application/json")

    def _assume_role(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        form: dict[str, str],
        scope: tuple[str, str, str],
    ) -> Iterable[bytes]:
        def who() -> Identity:
            return self.recorder.identity_for(scope[0])

        why = assume_refusal(form, who, self.recorder.account_id)
        if why is not None:  # the MFA role's trust conditions, which moto does not evaluate
            log.info("AssumeRole refused: %s", why)
            status_line, headers, denied = access_denied(who(), form.get("RoleArn", ""))
            start_response(status_line, headers)
            return [denied]
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        app_iter = self.moto_app(environ, capture)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        status = str(captured.get("status", "500 INTERNAL SERVER ERROR"))
        if status.startswith("200"):
            try:
                self.recorder.record_assume_role(_call_from(environ, form, scope, body))
            except Exception as exc:  # recording must never break the STS answer itself
                log.warning("could not record AssumeRole: %s", type(exc).__name__)
        start_response(status, captured.get("headers", []))
        return [body]


def _call_from(
    environ: dict[str, Any], form: dict[str, str], scope: tuple[str, str, str], body: bytes
) -> AssumeRoleCall:
    fields = parse_xml_fields(body)
    expiration = datetime.fromisoformat(fields["Expiration"].replace("Z", "+00:00"))
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return AssumeRoleCall(
        caller_access_key_id=scope[0],
        region=scope[1],
        source_ip=str(environ.get("REMOTE_ADDR", "127.0.0.1")),
        user_agent=str(environ.get("HTTP_USER_AGENT", "")),
        role_arn=form.get("RoleArn", ""),
        role_session_name=form.get("RoleSessionName", ""),
        duration_seconds=int(form.get("DurationSeconds") or 3600),
        source_identity=form.get("SourceIdentity") or None,
        external_id=form.get("ExternalId") or None,
        new_access_key_id=fields["AccessKeyId"],
        expiration=expiration,
        assumed_role_id=fields.get("AssumedRoleId", ""),
        assumed_role_arn=fields.get("Arn", ""),
        request_id=fields.get("RequestId"),
    )


def _json(
    start_response: Callable[..., Any],
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str],
    content_type: str,
) -> Iterable[bytes]:
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}.get(
        status, "Error"
    )
    hdrs = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    hdrs += list(headers.items())
    start_response(f"{status} {reason}", hdrs)
    return [data]
