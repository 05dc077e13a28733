"""The one error type the service answers with: an HTTP status, a stable code and a message.

Messages are built from names, ARNs and error codes only: never a credential, a traceback or
the text of an AWS error (which quotes ARNs, policies, or a proxy's HTML). What AWS said goes
in ``detail``, which only the service log shows.
"""

from __future__ import annotations

from sentinelgw.errors import SentinelError


class Refusal(SentinelError):
    """The service refuses a request; ``status`` is the HTTP status, ``code`` is stable."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail  # for the service log only
        self.headers = headers or {}  # extra response headers (Retry-After)
        # extra fields of the answer's body, for the client to act on (the MFA role to assume)
        self.fields = fields or {}


def safe_code(err: SentinelError) -> str:
    """The AWS error code of an error from the AWS boundary (:mod:`sentinelgw.awserrors`), safe
    to answer with: that boundary already keeps a raw body out of it."""
    code = err.aws_code or "Error"
    return "".join(c for c in code if c.isalnum() or c in ". -_")[:64] or "Error"


def refused(err: SentinelError, operation: str) -> Refusal:
    """The 503 for a failed call on the session table: the answer names the call and AWS's
    error code only; the full message goes to the service log."""
    return Refusal(
        503,
        "SessionTableUnavailable",
        f"the session table cannot be used (dynamodb:{operation}: {safe_code(err)}), "
        "so the service refuses",
        detail=err.message,
    )
