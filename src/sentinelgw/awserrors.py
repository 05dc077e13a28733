"""The one boundary between botocore's errors and Sentinel's (docs/architecture.md, "Errors").

Every AWS call runs inside :func:`aws_call`::

    with aws_call("dynamodb", "Query", f"session table {table!r}", raises=SessionStoreError):
        resp = client.query(...)

A botocore failure inside the block becomes one exception of the class ``raises`` (an
:class:`AWSError` by default) whose message names the service, the call and the resource, and
says what to do. Anything else passes through untouched: it is a bug, which the CLI reports as
"internal error" (the traceback only with ``--debug``), never as an AWS outage.

The failure is classified by the AWS error code *and* the HTTP status: a 401 or 403 is access
denied whatever the body says, and names the permission the call needs. A body botocore could
not parse (XML for a JSON service, a proxy's HTML page, JSON not in the error shape) is never
quoted: the message keeps only an ``<Code>`` found inside it, or the HTTP status. The body is
kept on the exception as ``debug_detail``, which only ``--debug`` shows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sentinelgw.errors import AWSError, ConfigError, InternalError, SentinelError

# Permission each call needs, used to make AccessDenied messages actionable.
PERMISSIONS = {
    ("sts", "AssumeRole"): "sts:AssumeRole and sts:SetSourceIdentity on the role",
    ("sts", "GetCallerIdentity"): "no permission (check that the credentials are valid)",
    ("sts", "GetSessionToken"): "an IAM user's long-term keys (no permission; with an MFA "
    "condition, mfa_serial in the profile)",
    ("ssm", "GetParameter"): "ssm:GetParameter (and kms:Decrypt for a SecureString)",
    ("dynamodb", "PutItem"): "dynamodb:PutItem on the session table",
    ("dynamodb", "GetItem"): "dynamodb:GetItem on the session table",
    ("dynamodb", "UpdateItem"): "dynamodb:UpdateItem on the session table",
    ("dynamodb", "Query"): "dynamodb:Query on the session table and its indexes",
    ("dynamodb", "Scan"): "dynamodb:Scan on the session table's status-index",
    ("dynamodb", "BatchGetItem"): "dynamodb:BatchGetItem on the session table",
    ("dynamodb", "CreateTable"): "dynamodb:CreateTable and dynamodb:UpdateTimeToLive",
    ("dynamodb", "DescribeTable"): "dynamodb:DescribeTable on the session table",
    ("cloudtrail", "LookupEvents"): "cloudtrail:LookupEvents",
    ("s3", "ListObjectsV2"): "s3:ListBucket on the trail bucket",
    ("s3", "GetObject"): "s3:GetObject on the trail bucket",
    ("sso", "GetRoleCredentials"): "an IAM Identity Center assignment for this account and role",
}

ACCESS_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
)
INVALID_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
NOT_FOUND = frozenset(
    {"ResourceNotFoundException", "NoSuchEntity", "ParameterNotFound", "NoSuchBucket", "NoSuchKey"}
)
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)

_MARKUP_CODE = re.compile(r"<Code>([A-Za-z][A-Za-z0-9.]{0,63})</Code>")
_MARKUP_MESSAGE = re.compile(r"<Message>([^<]{0,300})</Message>")
_SAFE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.:_-]{0,63}$")
_MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Failure:
    """What AWS answered, split into the parts safe to show and the raw rest.

    ``code`` is AWS's error code (or ``HTTP <status>`` when the body named none), ``message``
    AWS's message when it came in the error shape ("" otherwise), ``raw`` the unparsed body
    (for ``--debug`` only).
    """

    code: str
    status: int | None
    message: str
    raw: str = ""


def failure(exc: BaseException) -> Failure:
    """The safe parts of a botocore ClientError (any other exception: its type name only)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return Failure(code=type(exc).__name__, status=None, message="")
    err = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    raw_status = meta.get("HTTPStatusCode")
    status = raw_status if isinstance(raw_status, int) else None
    code = str(err.get("Code") or "").strip()
    message = str(err.get("Message") or "").strip()
    if code.isdigit() or not code:
        # botocore could not parse the body: its "code" is the HTTP status and its message
        # the whole body. Keep a <Code> (and <Message>) of an AWS XML error inside it.
        status = status or (int(code) if code.isdigit() else None)
        found = _MARKUP_CODE.search(message)
        text = _MARKUP_MESSAGE.search(message) if found else None
        return Failure(
            code=found.group(1) if found else f"HTTP {status or 'error'}",
            status=status,
            message=_one_line(text.group(1)) if text else "",
            raw=message,
        )
    if not _SAFE_CODE.match(code):
        return Failure(code=f"HTTP {status or 'error'}", status=status, message="", raw=message)
    if _looks_raw(message):
        return Failure(code=code, status=status, message="", raw=message)
    return Failure(code=code, status=status, message=_one_line(message))


def translate(
    exc: BaseException,
    service: str,
    operation: str,
    resource: str = "",
    *,
    raises: type[SentinelError] = AWSError,
    missing: str | None = None,
) -> SentinelError:
    """The Sentinel error for a failed AWS call: one line, actionable, no raw body.

    ``missing``, when given, is the hint for an answer that the resource does not exist (then
    the message says so). A :class:`SentinelError` is returned as it is; an exception that is
    not botocore's is a bug and becomes :class:`InternalError`, never an AWS error.
    """
    if isinstance(exc, SentinelError):
        return exc
    if not is_botocore(exc):
        return InternalError(
            f"internal error during {service}:{operation}: {type(exc).__name__}",
            hint="Re-run with --debug and report it",
        )
    what = f"{service}:{operation}" + (f" on {resource}" if resource else "")
    err = _client_error(exc, service, operation, what, raises)
    if err is not None and missing is not None and err.aws_code in NOT_FOUND:
        code = err.aws_code
        err = raises(f"{resource or what} was not found ({service}:{operation})", hint=missing)
        err.aws_code = code
    if err is None:
        err = _botocore_error(exc, what, raises)
    if err.aws_code is None:
        err.aws_code = failure(exc).code if getattr(exc, "response", None) else type(exc).__name__
    return err


@contextlib.contextmanager
def aws_call(
    service: str,
    operation: str,
    resource: str = "",
    *,
    raises: type[SentinelError] = AWSError,
    missing: str | None = None,
) -> Iterator[None]:
    """Run the block's AWS call; a botocore failure becomes one ``raises`` (see module doc)."""
    try:
        yield
    except SentinelError:
        raise
    except Exception as exc:
        if is_botocore(exc):
            err = translate(exc, service, operation, resource, raises=raises, missing=missing)
            raise err from exc
        raise


def _client_error(
    exc: BaseException, service: str, operation: str, what: str, raises: type[SentinelError]
) -> SentinelError | None:
    import botocore.exceptions as be

    if not isinstance(exc, be.ClientError):
        return None
    f = failure(exc)
    if f.code in INVALID_CREDENTIALS:
        err = raises(
            f"{what} failed: the credentials are invalid or expired ({f.code})",
            hint="Refresh them (for SSO: 'aws sso login') and check the clock; then try again",
        )
    elif f.code in ACCESS_DENIED or f.status in (401, 403):
        perm = PERMISSIONS.get((service, operation), f"{service}:{operation}")
        err = raises(f"{what} was denied ({f.code})", hint=f"The caller needs {perm}")
        err.access_denied = True
    elif f.code in THROTTLED or f.status == 429:
        err = raises(f"{what} was throttled after retries ({f.code})", hint="Wait and try again")
    elif f.status is not None and f.status >= 500 and not f.message:
        err = raises(
            f"{what} failed: the endpoint answered {f.code}",
            hint="Try again later; --debug shows its answer",
        )
    else:
        err = raises(f"{what} failed with {f.code}" + (f": {f.message}" if f.message else ""))
    err.debug_detail = f.raw or None
    err.aws_code = f.code
    return err


def _botocore_error(exc: BaseException, what: str, raises: type[SentinelError]) -> SentinelError:
    import botocore.exceptions as be

    if isinstance(exc, be.NoCredentialsError):
        return raises(
            f"{what}: no AWS credentials were found",
            hint="Configure a profile (--aws-profile) or set AWS credentials",
        )
    if isinstance(exc, be.NoRegionError):
        return ConfigError(
            f"{what}: no AWS region is configured",
            hint="Pass --region, set AWS_REGION, or set defaults.region in the Sentinel config",
        )
    if isinstance(exc, be.ProfileNotFound):
        return ConfigError(f"{exc}", hint="Check the profile name or AWS_CONFIG_FILE")
    if isinstance(exc, be.EndpointConnectionError | be.ConnectTimeoutError | be.ReadTimeoutError):
        return raises(
            f"{what}: could not reach the endpoint ({type(exc).__name__})",
            hint="Check the network, the region and AWS_ENDPOINT_URL",
        )
    if isinstance(exc, be.ParamValidationError):
        return raises(f"{what}: invalid parameters: {_one_line(str(exc))}")
    return raises(f"{what} failed: {type(exc).__name__}: {_one_line(str(exc))}")


def error_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a ClientError (or of the one a Sentinel error was made from)."""
    if isinstance(exc, SentinelError):
        exc = exc.__cause__
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        code = resp.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_botocore(exc: BaseException) -> bool:
    """True for botocore's and boto3's own exceptions (the only ones that are AWS errors)."""
    mod = type(exc).__module__
    return mod.startswith(("botocore", "boto3"))


def _looks_raw(message: str) -> bool:
    """A message that is a document, not a sentence: markup, or JSON not in the error shape."""
    head = message.lstrip()[:1]
    return "<" in message or head in ("{", "[")


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"
