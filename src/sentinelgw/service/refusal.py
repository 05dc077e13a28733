"""The one error type the service answers with: an HTTP status, a stable code and a message.

Messages are built from names, ARNs and error codes only: never a credential, a traceback or
the text of an AWS error (which quotes ARNs, policies, or a proxy's HTML). What AWS said goes
in ``detail``, which only the service log shows.
"""

from __future__ import annotations

from sentinelgw.awsclients import error_code
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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail  # for the service log only
        self.headers = headers or {}  # extra response headers (Retry-After)


def aws_failure(exc: BaseException) -> str:
    """An AWS failure as its error code (or exception type) only, safe to answer with."""
    import re

    code = error_code(exc) or type(exc).__name__
    if code.isdigit():
        # An HTTP status only: the body was not in the protocol botocore expected (a proxy's
        # page, or XML for a JSON service); name the error code inside it, if there is one.
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
        found = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", message)
        code = found.group(1) if found else f"HTTP {code}"
    return "".join(c for c in code if c.isalnum() or c in ". -_")[:64] or "Error"
