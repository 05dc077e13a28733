"""When access requests are swept: on a timer, on the stack's schedule, and on requests.

The sweep itself is :meth:`sentinelgw.service.access.AccessRequests.sweep`: pending requests
past their wait expire, approved ones past their end expire and the sessions started under
them are revoked (hard, where the service has hard revocation), and a blocked requester's
pending requests are cancelled. It must run even when nobody calls the service:

- ``sentinel tvm serve`` and the sandbox run it on a timer (:func:`start_sweeper`);
- a Lambda deployment runs it on the stack's EventBridge schedule
  (:mod:`sentinelgw.service.deploy.schedule`, :func:`run_sweep`);
- a Lambda instance also runs it after an API request when its last sweep is older than
  :data:`ON_REQUEST_EVERY` (:func:`maybe_sweep`, ``ServiceApp.sweep_on_request``).

A sweep never raises to its caller: a failure is one line in the service log
(``sweep_failed`` with the error code) and the next sweep tries again. A document without any
``require_approval`` rule and without approval rules has nothing to sweep, and costs nothing.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from sentinelgw.awsclients import error_code
from sentinelgw.policy.model import Effect

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService

ON_REQUEST_EVERY = 30.0  # seconds between sweeps started by API requests, per process


def has_requests(service: SentinelService) -> bool:
    """Whether the document can have access requests at all."""
    doc = service.document()
    return bool(doc.approvals.rules) or any(
        r.effect is Effect.REQUIRE_APPROVAL for r in doc.policy.rules
    )


def run_sweep(service: SentinelService) -> int:
    """Sweep once; the number of requests changed (0 after a failure, which is logged)."""
    try:
        if not has_requests(service):
            return 0
        return len(service.requests.sweep(service.clock()))
    except Exception as exc:
        code = getattr(exc, "code", None) or error_code(exc) or type(exc).__name__
        service.log_event(
            {
                "event": "sweep_failed",
                "code": str(code)[:64],
                "message": "the access-request sweep failed; the next one tries again",
            }
        )
        return 0


class _Last:
    at = float("-inf")
    lock = threading.Lock()


def maybe_sweep(service: SentinelService, every: float = ON_REQUEST_EVERY) -> bool:
    """Sweep when this process's last sweep started more than ``every`` seconds ago (one
    request at a time does it); True when it ran."""
    now = time.monotonic()
    with _Last.lock:
        if now - _Last.at < every:
            return False
        _Last.at = now
    run_sweep(service)
    return True


def start_sweeper(service: SentinelService, interval: float) -> threading.Event:
    """Sweep every ``interval`` seconds on a daemon thread (a long-running host); set the
    returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            run_sweep(service)

    threading.Thread(target=loop, name="sentinel-sweep", daemon=True).start()
    return stop
