"""The loopback credential server's handler in remote mode: every request the child's SDK makes
is forwarded to the credential service with a fresh proof, so the service (not this machine)
decides each time. A refusal reaches the SDK as the server's error body, as in local mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinelgw.server.http import Response, error
from sentinelgw.service.client import ServiceClient, ServiceRefused, ServiceUnavailable


@dataclass
class ForwardingHandler:
    client: ServiceClient
    session_id: str

    def __call__(self) -> Response:
        try:
            grant = self.client.credentials(self.session_id)
        except ServiceRefused as exc:
            return error(403, exc.code, f"Sentinel service refused credentials: {exc.detail}")
        except ServiceUnavailable as exc:
            return error(503, exc.code, f"Sentinel service unavailable: {exc}")
        return Response(200, grant.credentials.container_json())
