"""The loopback credential server's handler in remote mode: requests the child's SDK makes are
forwarded to the credential service with a fresh proof, so the service (not this machine)
decides. A refusal reaches the SDK as the server's error body, as in local mode, and
Sentinel's own stderr through ``on_refusal`` (throttled by the caller): SDKs such as the
JavaScript one hide the body.

The service's last answer is reused for ``reuse_seconds`` (at most 10 s): an SDK holding
15-minute credentials is always inside botocore's 15-minute advisory window, so it asks again
on every API call, and a round trip to the service per call would slow the child down. A
refusal, here or at a renewal (:meth:`forget`), ends the reuse at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sentinelgw.server.http import Response, error
from sentinelgw.service.client import ServiceClient, ServiceRefused, ServiceUnavailable

MAX_REUSE_SECONDS = 10.0


@dataclass
class ForwardingHandler:
    client: ServiceClient
    session_id: str
    on_refusal: Callable[[str, str], None] | None = None
    reuse_seconds: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _held: tuple[float, Response] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(self) -> Response:
        reuse = min(self.reuse_seconds, MAX_REUSE_SECONDS)
        with self._lock:
            held = self._held
        if held is not None and self.clock() - held[0] < reuse:
            return held[1]
        try:
            grant = self.client.credentials(self.session_id)
        except ServiceRefused as exc:
            self.forget()
            self._tell(exc.code, exc.detail)
            return error(403, exc.code, f"Sentinel service refused credentials: {exc.detail}")
        except ServiceUnavailable as exc:
            self.forget()
            self._tell(exc.code, str(exc))
            return error(503, exc.code, f"Sentinel service unavailable: {exc}")
        response = Response(200, grant.credentials.container_json())
        if reuse > 0:
            with self._lock:
                self._held = (self.clock(), response)
        return response

    def forget(self) -> None:
        """Ask the service again at the next request (the session was refused elsewhere)."""
        with self._lock:
            self._held = None

    def _tell(self, code: str, message: str) -> None:
        if self.on_refusal is not None:
            # The same line as local server mode; ``kind`` throttles per code, not per request
            # id (each refusal's message carries a new one).
            self.on_refusal(f"refused a credential request ({code}): {message}", code)
