"""The session record of a server session: created before any credential exists.

A policy that requires tracking makes a failure to record the session fatal; otherwise
``defaults.fail_open`` decides between refusing and continuing untracked.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sentinelgw.awsclients import client
from sentinelgw.config import DEFAULT_RETENTION_DAYS
from sentinelgw.errors import SentinelError, SessionStoreError
from sentinelgw.server.tracker import SessionTracker
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.store import SessionStore
from sentinelgw.sourceidentity import new_id

if TYPE_CHECKING:
    from sentinelgw.context import Context


@dataclass(frozen=True, kw_only=True)
class SessionInfo:
    """What the session record says about the session."""

    table: str
    session_id: str
    user: str
    profile: str
    role_arn: str | None
    source_identity: str | None
    lifetime: timedelta


def tracking_client(ctx: Context, region: str | None, issuer_session: Any) -> Any:
    """DynamoDB client for the session table: ``--aws-profile`` if given, else the same source
    credentials the session is issued from (the user's own identity). Short timeouts so a
    hanging endpoint cannot stall the revocation poller for long."""
    kw: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_attempts": 3}
    if ctx.aws_profile:
        return ctx.client("dynamodb", region, **kw)
    return client("dynamodb", session=issuer_session, region=region, **kw)


def start_tracker(
    ctx: Context,
    info: SessionInfo,
    client: Any,
    *,
    required: bool,
    fail_open: bool,
) -> SessionTracker | None:
    """Create the record and start tracking; None when tracking failed and fail-open allows."""
    now = ctx.now()
    record = SessionRecord.new(
        id=info.session_id,
        user=info.user,
        profile=info.profile,
        role_arn=info.role_arn or "",
        started_at=now,
        expires_at=now + info.lifetime,
        server_instance_id=instance_id(),
        source_identity=info.source_identity or "",
        host=socket.gethostname(),
        retention_days=int(ctx.config().default("retention_days") or DEFAULT_RETENTION_DAYS),
    )
    tracker = SessionTracker(SessionStore(client, info.table), record, ctx.decision_log())
    try:
        tracker.start()
    except SentinelError as exc:
        _tracking_failed(ctx, info, exc, required=required, fail_open=fail_open)
        return None
    return tracker


def _tracking_failed(
    ctx: Context, info: SessionInfo, exc: SentinelError, *, required: bool, fail_open: bool
) -> None:
    """Raise SessionStoreError, unless fail-open lets the session continue untracked."""
    table = info.table
    if required:
        raise SessionStoreError(
            f"cannot record the session in table {table!r} ({exc}); the policy requires "
            "session tracking for this profile, so no credentials were issued"
        ) from exc
    if fail_open:
        ctx.decision_log().warn(
            f"session tracking failed for profile {info.profile!r} in table {table!r} ({exc}); "
            "continuing untracked because defaults.fail_open is true"
        )
        return
    raise SessionStoreError(
        f"cannot record the session in table {table!r} ({exc})",
        hint="Fix the table, pass --no-session-tracking, or set defaults.fail_open",
    ) from exc


@functools.cache
def instance_id() -> str:
    """One id per sentinel process: the record's server_instance_id."""
    return new_id()
