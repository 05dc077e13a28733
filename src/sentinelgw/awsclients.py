"""Creating AWS clients and translating their errors.

boto3 is imported lazily, inside these functions, so that commands which do not talk to AWS
(``sentinel credentials`` with a warm cache, ``policy validate``) start fast.

Every client is made through a ``boto3.Session`` so the standard variables apply exactly as in
the AWS CLI: ``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_REGION`` and
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``. ``AWS_PROFILE`` is the exception: it names
the profile ``exec`` and ``credentials`` default to, never the credentials of Sentinel's own
calls (see :func:`make_session`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sentinelgw.errors import AWSError, ConfigError, SentinelError

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")

# Permission each call needs, used to make AccessDenied messages actionable.
_PERMISSIONS = {
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

# Sentinel's retry default, used only when the user set neither AWS_MAX_ATTEMPTS nor
# AWS_RETRY_MODE (nor max_attempts / retry_mode in the AWS config profile): then botocore
# applies the user's settings exactly as the AWS CLI does.
DEFAULT_RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 4}
_RETRY_VARIABLES = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")
_RETRY_KEYS = ("max_attempts", "retry_mode")


def user_sets_retries(sess: boto3.Session | None = None) -> bool:
    """True when the environment or the session's AWS config profile sets retry behaviour."""
    import os

    if any(os.environ.get(name) for name in _RETRY_VARIABLES):
        return True
    if sess is None:
        return False
    import botocore.session

    try:
        # A separate botocore session on the same profile: only public API is read.
        scoped = botocore.session.Session(profile=sess.profile_name).get_scoped_config()
    except Exception:  # a broken or missing profile is reported by the client call itself
        return False
    return any(scoped.get(key) not in (None, "") for key in _RETRY_KEYS)


def retries_for(sess: boto3.Session | None, max_attempts: int | None = None) -> dict[str, Any]:
    """The ``retries`` entry of a botocore Config, or {} to let the user's settings apply.

    ``max_attempts=0`` means the caller retries by itself (the audit's paced loop) and always
    holds; any other per-call default yields to ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE``.
    """
    if max_attempts == 0:
        return {"retries": {"mode": "standard", "max_attempts": 0}}
    if user_sets_retries(sess):
        return {}
    attempts = DEFAULT_RETRIES["max_attempts"] if max_attempts is None else max_attempts
    return {"retries": {"mode": DEFAULT_RETRIES["mode"], "max_attempts": attempts}}


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session for ``profile``; None: the default chain, ignoring ``AWS_PROFILE``.

    ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE`` name the profile a user works in (the one
    ``sentinel exec`` defaults to), not the credentials Sentinel itself should use: with
    ``AWS_PROFILE=prod``, botocore would assume the prod role with no SourceIdentity for
    Sentinel's own calls, and the audit would report that session as a gap. So without an
    explicit profile the session reads no profile variable.
    """
    import boto3
    import botocore.exceptions
    import botocore.session

    try:
        if not profile:
            # "profile" resolved from no environment variable: the [default] profile's
            # settings and the rest of the default chain still apply.
            core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
            return boto3.Session(botocore_session=core, region_name=region or None)
        return boto3.Session(profile_name=profile, region_name=region or None)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS profile {profile!r} was not found in the AWS config",
            hint="Check the name with 'aws configure list-profiles' or set AWS_CONFIG_FILE",
        ) from exc


def client(
    service: str,
    *,
    session: boto3.Session | None = None,
    profile: str | None = None,
    region: str | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A botocore client; endpoints and retry settings come from the usual variables.

    Retries follow ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` (or the profile's ``max_attempts``
    / ``retry_mode``) when set, else Sentinel's default (:data:`DEFAULT_RETRIES`, or the
    caller's ``max_attempts``).
    """
    from botocore.config import Config

    sess = session or make_session(profile, region)
    cfg: dict[str, Any] = retries_for(sess, max_attempts)
    if connect_timeout is not None:
        cfg["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        cfg["read_timeout"] = read_timeout
    try:
        return sess.client(service, region_name=region or None, config=Config(**cfg))
    except Exception as exc:  # NoRegionError, ProfileNotFound, bad endpoint URL
        raise translate(exc, service, "client") from exc


_MARKUP_CODE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
_MARKUP_MESSAGE = re.compile(r"<Message>([^<]{0,500})</Message>")


def _readable_error(code: str, msg: str) -> tuple[str, str]:
    """The error code and message, without a raw body.

    When an endpoint answers in another protocol than botocore expected (XML for a JSON
    service, or a proxy's HTML page), botocore's code is the HTTP status and its message the
    whole body: keep the ``<Code>`` and ``<Message>`` inside it, or nothing.
    """
    if "<" not in msg:
        return code, " ".join(msg.split())
    found = _MARKUP_CODE.search(msg)
    if found and code.isdigit():
        code = found.group(1)
    text = _MARKUP_MESSAGE.search(msg)
    return code, " ".join(text.group(1).split()) if text else ""


def translate(
    exc: BaseException, service: str, operation: str, resource: str = ""
) -> SentinelError:
    """Turn a botocore exception into an :class:`AWSError` with a one-line, actionable message."""
    import botocore.exceptions as be

    if isinstance(exc, SentinelError):
        return exc
    what = f"{service}:{operation}" + (f" on {resource}" if resource else "")
    if isinstance(exc, be.ClientError):
        err = exc.response.get("Error", {})
        code, msg = _readable_error(
            str(err.get("Code", "Unknown")), str(err.get("Message", "")).strip()
        )
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            perm = _PERMISSIONS.get((service, operation), f"{service}:{operation}")
            return AWSError(f"{what} was denied ({code})", hint=f"The caller needs {perm}")
        if code in {
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "InvalidSignatureException",
        }:
            return AWSError(
                f"{what} failed: the source credentials are invalid or expired ({code})",
                hint="Refresh them (for SSO: 'aws sso login') and try again",
            )
        if code in {
            "Throttling",
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
        }:
            return AWSError(
                f"{what} was throttled after retries ({code})", hint="Wait a moment and try again"
            )
        detail = f": {msg}" if msg else ""
        return AWSError(f"{what} failed with {code}{detail}")
    if isinstance(exc, be.NoCredentialsError):
        return AWSError(
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
        return AWSError(
            f"{what}: could not reach the endpoint ({type(exc).__name__})",
            hint="Check the network, the region and AWS_ENDPOINT_URL",
        )
    if isinstance(exc, be.ParamValidationError):
        return AWSError(f"{what}: invalid parameters: {exc}")
    if isinstance(exc, be.BotoCoreError):
        return AWSError(f"{what} failed: {exc}")
    return AWSError(f"{what} failed: {type(exc).__name__}: {exc}")


def call(service: str, operation: str, fn: Callable[[], T], resource: str = "") -> T:
    """Run ``fn`` (an AWS call) and translate any botocore failure."""
    try:
        return fn()
    except SentinelError:
        raise
    except Exception as exc:
        if _is_botocore(exc):
            raise translate(exc, service, operation, resource) from exc
        raise


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError, else None."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        code = resp.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def _is_botocore(exc: BaseException) -> bool:
    mod = type(exc).__module__
    return mod.startswith("botocore") or mod.startswith("boto3")
