"""``tvm check``'s drift detection on the credential service's stack."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sentinelgw.awsclients import error_code
from sentinelgw.inert import visible

POLL_SECONDS = 2.0


class DriftUnavailable(Exception):
    """CloudFormation could not tell whether the stack drifted (not a finding; a note)."""


def detect_drift(
    cf: Any, name: str, *, sleep: Callable[[float], None] = time.sleep
) -> list[tuple[str, str, str]]:
    """The stack's drifted resources as (logical id, type, status); raises
    :class:`DriftUnavailable` when drift detection cannot run (no stack, no permission, or an
    implementation without it)."""
    try:
        detection = cf.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
        deadline = time.monotonic() + 300
        while True:
            status = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
            state = str(status.get("DetectionStatus"))
            if state != "DETECTION_IN_PROGRESS":
                break
            if time.monotonic() >= deadline:
                raise DriftUnavailable("drift detection did not finish within 300 s")
            sleep(POLL_SECONDS)
        if state == "DETECTION_FAILED" and not status.get("StackDriftStatus"):
            raise DriftUnavailable(visible(status.get("DetectionStatusReason") or "it failed"))
        drifts: list[dict[str, Any]] = []
        pages = cf.get_paginator("describe_stack_resource_drifts").paginate(
            StackName=name, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
        )
        for page in pages:
            drifts += page.get("StackResourceDrifts") or []
    except DriftUnavailable:
        raise
    except Exception as exc:  # AccessDenied, not implemented, a raw error page: all the same
        reason = error_code(exc) or f"no usable answer ({type(exc).__name__})"
        raise DriftUnavailable(reason) from exc
    return [
        (
            visible(d.get("LogicalResourceId")),
            visible(d.get("ResourceType")),
            visible(d.get("StackResourceDriftStatus")),
        )
        for d in drifts
    ]
