"""The one error type the service answers with: an HTTP status, a stable code and a message.

Messages are built from names, ARNs and error codes only: never a credential or a traceback.
"""

from __future__ import annotations

from sentinelgw.errors import SentinelError


class Refusal(SentinelError):
    """The service refuses a request; ``status`` is the HTTP status, ``code`` is stable."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
