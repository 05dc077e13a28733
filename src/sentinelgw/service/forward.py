"""The loopback credential server's handler in remote mode: every request the child's SDK makes
is forwarded to the credential service with a fresh proof, so the service (not this machine)
decides each time. A refusal reaches the SDK as the server's error body, as in local mode, and
Sentinel's own stderr through ``on_refusal`` (throttled by the caller): SDKs such as the
JavaScript one hide the body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sentinelgw.server.http import Response, error
from sentinelgw.service.client import ServiceClient, ServiceRefused, ServiceUnavailable


@dataclass
class ForwardingHandler:
    client: ServiceClient
    session_id: str
    on_refusal: Callable[[str, str], None] | None = None

    def __call__(self) -> Response:
        try:
            grant = self.client.credentials(self.session_id)
        except ServiceRefused as exc:
            self._tell(exc.code, exc.detail)
            return error(403, exc.code, f"Sentinel service refused credentials: {exc.detail}")
        except ServiceUnavailable as exc:
            self._tell(exc.code, str(exc))
            return error(503, exc.code, f"Sentinel service unavailable: {exc}")
        return Response(200, grant.credentials.container_json())

    def _tell(self, code: str, message: str) -> None:
        if self.on_refusal is not None:
            # The same line as local server mode; ``kind`` throttles per code, not per request
            # id (each refusal's message carries a new one).
            self.on_refusal(f"refused a credential request ({code}): {message}", code)
