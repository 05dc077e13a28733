"""Any API call the sandbox's front sees, as a CloudTrail event (not only AssumeRole).

The recorder turns every request signed with credentials the sandbox issued through STS into
an event in CloudTrail's shape, so ``sentinel audit session-activity`` has something to find:
``eventSource`` from the SigV4 scope, ``eventName`` from the request (``X-Amz-Target`` for the
JSON protocols, ``Action`` for the query protocols, and for REST services such as S3 the
operation of botocore's service model whose method, path, query markers and required
parameters the request matches), ``errorCode`` from the answer, and for S3 the bucket and
object as ``resources`` and ``requestParameters``, as CloudTrail names them.

Requests signed with other keys (the sandbox's IAM users) are not recorded: their audit is the
issuance audit's, from the AssumeRole events.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from sentinelgw.timeutil import iso

_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]{0,400})</Message>")
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup")
_VERBS = {
    "GET": ("Get", "List"),
    "HEAD": ("Head",),
    "PUT": ("Put",),
    "DELETE": ("Delete",),
    "POST": ("Create", "Post"),
}


@dataclass(frozen=True)
class ApiCall:
    """What the front saw of one request and its answer."""

    access_key_id: str
    region: str
    service: str  # the SigV4 signing name
    action: str
    status: int
    error_code: str | None
    error_message: str | None
    source_ip: str
    user_agent: str
    resources: tuple[tuple[str, str], ...] = ()  # (type, ARN)
    request_parameters: dict[str, Any] | None = None


def action_of(environ: dict[str, Any], service: str, body: bytes) -> str:
    """The operation name of a request, as CloudTrail's ``eventName`` gives it."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", "")):
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action"):
            return str(form["Action"][0])
    if query.get("Action"):
        return str(query["Action"][0])
    method = str(environ.get("REQUEST_METHOD", "GET"))
    path = unquote(str(environ.get("PATH_INFO", "/")))
    headers = {k[5:].replace("_", "-").lower() for k in environ if k.startswith("HTTP_")}
    return rest_operation(service, method, path, set(query), headers) or f"{method} {path}"


@functools.cache
def _operations(service: str) -> tuple[tuple[str, str, list[str], dict[str, str], set[str]], ...]:
    """(name, method, path template segments, query markers, required query/header names)."""
    import botocore.loaders
    import botocore.model

    # A loader of its own: botocore's S3 client customisations rewrite a loaded model's
    # request URIs in place (dropping "/{Bucket}"), and a process's sessions share one loader.
    try:
        raw = botocore.loaders.Loader().load_service_model(service, "service-2")
        model = botocore.model.ServiceModel(raw, service_name=service)
    except Exception:
        return ()
    out = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = str(op.http.get("requestUri", "/"))
        path, _, query = uri.partition("?")
        markers = {}
        for part in filter(None, query.split("&")):
            k, _, v = part.partition("=")
            markers[k] = v
        required: set[str] = set()
        shape = op.input_shape
        if shape is not None:
            for member in shape.required_members:
                ser = shape.members[member].serialization
                if ser.get("location") == "querystring":
                    required.add("q:" + str(ser.get("name", member)))
                elif ser.get("location") == "header":
                    required.add("h:" + str(ser.get("name", member)).lower())
        out.append((name, str(op.http.get("method", "GET")), _segments(path), markers, required))
    return tuple(out)


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def _path_matches(template: list[str], segs: list[str]) -> bool:
    i = 0
    for t in template:
        if t.endswith("+}"):
            return len(segs) > i and all(segs[i:])
        if i >= len(segs):
            return False
        if t.startswith("{"):
            if not segs[i]:
                return False
        elif t != segs[i]:
            return False
        i += 1
    return i == len(segs)


def rest_operation(
    service: str, method: str, path: str, query: set[str], headers: set[str]
) -> str | None:
    """The REST operation a request is: the most specific model operation it matches."""
    segs = _segments(path)
    raw_query = query
    best: tuple[tuple[int, int, str], str] | None = None
    for name, op_method, template, markers, required in _operations(service):
        if op_method != method or not _path_matches(template, segs):
            continue
        if any(k not in raw_query for k in markers):
            continue
        needs_q = {r[2:] for r in required if r.startswith("q:")}
        needs_h = {r[2:] for r in required if r.startswith("h:")}
        if not needs_q <= raw_query or not needs_h <= headers:
            continue
        verb = 1 if name.startswith(_VERBS.get(method, ())) else 0
        score = (len(markers) + len(needs_q) + len(needs_h), verb, name)
        if best is None or score[:2] > best[0][:2]:
            best = (score, name)
    return best[1] if best else None


def s3_resources(path: str) -> tuple[tuple[tuple[str, str], ...], dict[str, Any] | None]:
    """(resources, requestParameters) of a path-style S3 request."""
    segs = unquote(path).lstrip("/").split("/", 1)
    if not segs or not segs[0]:
        return (), None
    bucket = segs[0]
    key = segs[1] if len(segs) > 1 and segs[1] else None
    resources: list[tuple[str, str]] = []
    params: dict[str, Any] = {"bucketName": bucket}
    if key:
        resources.append(("AWS::S3::Object", f"arn:aws:s3:::{bucket}/{key}"))
        params["key"] = key
    resources.append(("AWS::S3::Bucket", f"arn:aws:s3:::{bucket}"))
    return tuple(resources), params


def error_of(status: int, body: bytes) -> tuple[str | None, str | None]:
    """(errorCode, errorMessage) of an answer; (None, None) for a success."""
    if status < 400:
        return None, None
    code = message = None
    text = body.lstrip()[:1]
    if text == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if isinstance(doc, dict):
            raw = str(doc.get("__type") or doc.get("code") or "")
            code = raw.rsplit("#", 1)[-1] or None
            message = str(doc.get("message") or doc.get("Message") or "") or None
    else:
        m = _CODE.search(body)
        code = m.group(1).decode("utf-8", "replace") if m else None
        mm = _MESSAGE.search(body)
        message = mm.group(1).decode("utf-8", "replace") if mm else None
    return code or f"HTTP{status}", message


def call_event(call: ApiCall, user_identity: dict[str, Any], account_id: str) -> dict[str, Any]:
    """The CloudTrail event of one call."""
    s3_data = call.service == "s3" and any(t == "AWS::S3::Object" for t, _ in call.resources)
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": user_identity,
        "eventTime": iso(datetime.now(UTC)),
        "eventSource": f"{call.service}.amazonaws.com",
        "eventName": call.action,
        "awsRegion": call.region,
        "sourceIPAddress": call.source_ip,
        "userAgent": call.user_agent,
        "requestParameters": call.request_parameters,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": call.action.startswith(_READ_PREFIXES),
        "eventType": "AwsApiCall",
        "managementEvent": not s3_data,
        "recipientAccountId": account_id,
        "eventCategory": "Data" if s3_data else "Management",
    }
    if call.resources:
        event["resources"] = [
            {"type": t, "ARN": arn, "accountId": account_id} for t, arn in call.resources
        ]
    if call.error_code:
        event["errorCode"] = call.error_code
        if call.error_message:
            event["errorMessage"] = call.error_message
    return event
