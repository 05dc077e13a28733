"""The sandbox's own evaluation of the per-session Denies that moto would misapply.

moto applies a Deny that has a Condition as if the condition were absent, so a Deny on
``aws:SourceIdentity`` written into a role would cut off every session of that role. The
sandbox front therefore keeps the two inline policies that revocation writes,
``SentinelRevokedSessions`` and AWS's ``AWSRevokeOlderSessions``, out of moto:

- ``PutRolePolicy``, ``GetRolePolicy`` and ``DeleteRolePolicy`` for those names are answered
  here in IAM's XML; ``ListRolePolicies`` is moto's answer with these names merged in. The
  role must exist in moto, and a put that would make the role's inline policies pass 10,240
  characters (white space not counted) gets IAM's ``LimitExceeded``.
- Every request signed with an access key the sandbox issued through STS AssumeRole (the
  recorder knows its role, SourceIdentity and issue time) is checked against the role's stored
  Denies. A match answers with AWS's AccessDenied error in the protocol of the service called,
  before moto sees the request. ``sts:GetCallerIdentity`` is never denied, as in AWS.

Evaluated: ``Effect: Deny`` statements on every action (``"*"``) whose conditions are
``StringEquals``/``StringLike`` on ``aws:SourceIdentity`` or ``DateLessThan`` on
``aws:TokenIssueTime``. Other statements in these two policies are stored but not evaluated.
A Deny takes effect at once: the sandbox does not emulate IAM's propagation delay. These calls
are served by the front, so moto's optional IAM enforcement does not check who makes them.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

from sentinelgw.sandbox.recorder import CloudTrailRecorder, Identity, parse_event_time

KEPT_POLICIES = frozenset({"SentinelRevokedSessions", "AWSRevokeOlderSessions"})
QUOTA_CHARS = 10_240
_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_NEVER_DENIED = {("sts", "GetCallerIdentity")}

StartResponse = Callable[..., Any]


class RevocationFront:
    """Stores the revocation policies per role and denies the sessions they name."""

    def __init__(
        self,
        recorder: CloudTrailRecorder,
        account_id: str,
        read_body: Callable[[dict[str, Any]], bytes],
    ) -> None:
        self.recorder = recorder
        self.account_id = account_id
        self._read_body = read_body
        self._lock = threading.Lock()
        self._docs: dict[str, dict[str, str]] = {}  # role name -> policy name -> JSON text

    def documents(self, role_name: str) -> dict[str, str]:
        """The stored policies of a role (a copy), for tests."""
        with self._lock:
            return dict(self._docs.get(role_name, {}))

    def handle(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        scope: tuple[str, str, str],
        moto_app: Callable[..., Iterable[bytes]],
    ) -> Iterable[bytes] | None:
        """An answer for this request, or None to pass it on to moto."""
        key, _region, service = scope
        if service == "iam" and environ.get("REQUEST_METHOD") == "POST":
            form = _form(self._read_body(environ))
            answer = self._iam(environ, start_response, form, moto_app)
            if answer is not None:
                return answer
        if not self._docs:
            return None
        identity = self.recorder.known_identity(key)
        if identity is None or identity.type != "AssumedRole" or not identity.issuer_role_arn:
            return None
        role = identity.issuer_role_arn.rsplit("/", 1)[-1]
        with self._lock:
            docs = list(self._docs.get(role, {}).values())
        if not docs or not any(_denies(json.loads(d), identity) for d in docs):
            return None
        action = _action(environ, service, self._read_body)
        if (service, action) in _NEVER_DENIED:
            return None
        return _access_denied(environ, start_response, service, action, identity.arn)

    # -- IAM calls for the kept policies -------------------------------------------------

    def _iam(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        form: dict[str, str],
        moto_app: Callable[..., Iterable[bytes]],
    ) -> Iterable[bytes] | None:
        action = form.get("Action", "")
        role = form.get("RoleName", "")
        policy = form.get("PolicyName", "")
        if action == "ListRolePolicies":
            return self._list(environ, start_response, role, moto_app)
        if action not in {"PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy"}:
            return None
        if policy not in KEPT_POLICIES:
            return None
        backend = _backend(self.account_id)
        try:
            moto_role = backend.get_role(role)
        except Exception:
            return _iam_error(
                start_response, 404, "NoSuchEntity", f"The role with name {role} cannot be found."
            )
        with self._lock:
            stored = self._docs.setdefault(role, {})
            if action == "PutRolePolicy":
                return self._put(
                    start_response, stored, moto_role, role, policy, form.get("PolicyDocument", "")
                )
            if policy not in stored:
                return _iam_error(
                    start_response,
                    404,
                    "NoSuchEntity",
                    f"The role policy with name {policy} cannot be found.",
                )
            if action == "DeleteRolePolicy":
                del stored[policy]
                return _iam_ok(start_response, action, "")
            result = (
                f"<PolicyName>{escape(policy)}</PolicyName>"
                f"<RoleName>{escape(role)}</RoleName>"
                f"<PolicyDocument>{escape(quote(stored[policy]))}</PolicyDocument>"
            )
            return _iam_ok(start_response, action, result)

    def _put(
        self,
        start_response: StartResponse,
        stored: dict[str, str],
        moto_role: Any,
        role: str,
        policy: str,
        text: str,
    ) -> Iterable[bytes]:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or "Statement" not in doc:
                raise ValueError("no Statement")
        except ValueError:
            return _iam_error(
                start_response, 400, "MalformedPolicyDocument", "Syntax errors in policy."
            )
        compact = json.dumps(doc, separators=(",", ":"))
        others = sum(_chars(t) for n, t in stored.items() if n != policy)
        others += sum(_chars(t) for t in getattr(moto_role, "policies", {}).values())
        if others + len(compact) > QUOTA_CHARS:
            return _iam_error(
                start_response,
                409,
                "LimitExceeded",
                f"Maximum policy size of {QUOTA_CHARS} bytes exceeded for role {role}",
            )
        stored[policy] = compact
        return _iam_ok(start_response, "PutRolePolicy", "")

    def _list(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        role: str,
        moto_app: Callable[..., Iterable[bytes]],
    ) -> Iterable[bytes] | None:
        with self._lock:
            ours = sorted(self._docs.get(role, {}))
        if not ours:
            return None
        try:
            names = list(_backend(self.account_id).list_role_policies(role))
        except Exception:
            return None  # moto answers NoSuchEntity itself
        members = "".join(f"<member>{escape(n)}</member>" for n in sorted({*names, *ours}))
        return _iam_ok(
            start_response,
            "ListRolePolicies",
            f"<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>",
        )


# -- evaluation -------------------------------------------------------------------------------


def _denies(doc: Any, identity: Identity) -> bool:
    stmts = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(stmts, dict):
        stmts = [stmts]
    return any(_statement_denies(s, identity) for s in stmts or [] if isinstance(s, dict))


def _statement_denies(stmt: dict[str, Any], identity: Identity) -> bool:
    if stmt.get("Effect") != "Deny" or _as_list(stmt.get("Action")) != ["*"]:
        return False
    cond = stmt.get("Condition")
    if not isinstance(cond, dict) or not cond:
        return False
    return all(_condition(op, block, identity) for op, block in cond.items())


def _condition(op: str, block: Any, identity: Identity) -> bool:
    if not isinstance(block, dict) or len(block) != 1:
        return False
    key, raw = next(iter(block.items()))
    values = [str(v) for v in _as_list(raw)]
    if key == "aws:SourceIdentity":
        have = identity.source_identity
        if not have:
            return False  # an absent key never matches a string condition
        if op == "StringEquals":
            return have in values
        if op == "StringLike":
            return any(fnmatch.fnmatchcase(have, v) for v in values)
    if key == "aws:TokenIssueTime" and op == "DateLessThan" and identity.created_at:
        issued = parse_event_time(identity.created_at)
        return any(issued < _epoch(v) for v in values)
    return False


def _epoch(text: str) -> float:
    try:
        return parse_event_time(text)
    except ValueError:
        return float("-inf")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- responses --------------------------------------------------------------------------------


def _action(
    environ: dict[str, Any], service: str, read_body: Callable[[dict[str, Any]], bytes]
) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    if "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", "")):
        return _form(read_body(environ)).get("Action", "")
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"


def _access_denied(
    environ: dict[str, Any], start_response: StartResponse, service: str, action: str, arn: str
) -> Iterable[bytes]:
    message = (
        f"User: {arn} is not authorized to perform: {service}:{action} "
        "with an explicit deny in an identity-based policy"
    )
    request_id = str(uuid.uuid4())
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps(
            {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
        ).encode()
        return _send(
            start_response, "400 Bad Request", body, "application/x-amz-json-1.0", request_id
        )
    if service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
            "</Error>"
        ).encode()
        return _send(start_response, "403 Forbidden", body, "application/xml", request_id)
    body = (
        f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error>'
        f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}"
        f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return _send(start_response, "403 Forbidden", body, "text/xml", request_id)


def _iam_ok(start_response: StartResponse, action: str, result: str) -> Iterable[bytes]:
    request_id = str(uuid.uuid4())
    inner = f"<{action}Result>{result}</{action}Result>" if result else ""
    body = (
        f'<{action}Response xmlns="{_IAM_NS}">{inner}<ResponseMetadata><RequestId>'
        f"{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
    return _send(start_response, "200 OK", body, "text/xml", request_id)


def _iam_error(
    start_response: StartResponse, status: int, code: str, message: str
) -> Iterable[bytes]:
    request_id = str(uuid.uuid4())
    body = (
        f'<ErrorResponse xmlns="{_IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    ).encode()
    reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return _send(start_response, f"{status} {reason}", body, "text/xml", request_id)


def _send(
    start_response: StartResponse, status: str, body: bytes, content_type: str, request_id: str
) -> Iterable[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _chars(text: str) -> int:
    try:
        return len(json.dumps(json.loads(text), separators=(",", ":")))
    except ValueError:
        return len(text)


def _backend(account_id: str) -> Any:
    """moto's IAM backend of the account (IAM is global: one backend per partition)."""
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]
