"""A session's own life at the credential service, and the caller's views: renew, end, the
caller's sessions and the service's read-only decisions (methods of
:class:`sentinelgw.service.core.SentinelService`, kept here to keep that module small)."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import SentinelError, SessionNotFound
from sentinelgw.policy import Mode, Request, evaluate
from sentinelgw.service.caller import Caller
from sentinelgw.service.checks import (
    MODES,
    _refuse_unless_active,
    _required,
    _service_denial,
    _string,
    _target,
    credentials_valid_until,
)
from sentinelgw.service.refusal import Refusal
from sentinelgw.sessions.model import SessionRecord, is_session_id
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.service.core import SentinelService


def renew(
    service: SentinelService, caller: Caller, session_id: str, note: dict[str, Any]
) -> dict[str, Any]:
    """Move a renewable session's end a lease on (never past ``renew_until``)."""
    if not is_session_id(session_id):
        raise Refusal(404, "SessionNotFound", "no such session")
    note["session_id"] = session_id
    doc = service.document()
    now = service.clock()
    stored, block = service.table.read(session_id, caller.user, now)
    record = service._owned(stored, caller, session_id)
    assert stored is not None
    note["profile"] = record.profile
    if record.breakglass_id:
        note["breakglass"] = record.breakglass_id
    _refuse_unless_active(record, now)
    if block is not None:
        raise Refusal(403, "UserBlocked", block.describe())
    if stored.renew_until is None or stored.lease is None:
        raise Refusal(
            409, "NotRenewable", f"session {session_id} has a fixed lifetime; start a new one"
        )
    target = doc.profiles.get(record.profile)
    if target is None or target.role_arn != record.role_arn:
        raise Refusal(
            403,
            "ProfileChanged",
            f"profile {record.profile} no longer leads to this session's role",
        )
    under = record.request_id or record.breakglass_id
    decision = service._decide(doc, caller, target, Mode.SERVER, now, note, under=under)
    until = stored.renew_until
    if decision.max_server_duration is not None:  # the policy may have tightened since
        until = min(until, record.started_at + decision.max_server_duration)
    end = min(now + stored.lease, until)
    if end > record.expires_at:
        record = service.table.renew(session_id, now, end)
    return {
        "session_id": session_id,
        "status": record.effective_status(now),
        "expires_at": iso(record.expires_at),
        "renew_until": iso(until),
        "lease_seconds": int(stored.lease.total_seconds()),
    }


def end(
    service: SentinelService,
    caller: Caller,
    session_id: str,
    body: dict[str, Any],
    note: dict[str, Any],
) -> dict[str, Any]:
    """The creator ends a session: status ``ended``, with a reason and the time after
    which no credential it issued is valid."""
    reason = _string(body, "reason") or f"ended by {caller.user}"
    if not is_session_id(session_id):
        raise Refusal(404, "SessionNotFound", "no such session")
    note["session_id"] = session_id
    stored = service.table.get(session_id)
    if stored is None:
        raise Refusal(404, "SessionNotFound", f"no session {session_id}")
    record = service._owned(stored, caller, session_id)
    note["profile"] = record.profile
    now = service.clock()
    valid_until = credentials_valid_until(record, now, leased=stored.renew_until is not None)
    ended = service.table.end(session_id, now, reason, valid_until)
    with service._lock:
        service._creds.pop(session_id, None)
    return {
        "session": {**ended.to_export(now), "credentials_valid_until": iso(valid_until)},
        "credentials_valid_until": iso(valid_until),
    }


def sessions(
    service: SentinelService, caller: Caller, body: dict[str, Any], note: dict[str, Any]
) -> dict[str, Any]:
    """The caller's own sessions, newest first (at most ``limit``, 1 to 200)."""
    limit = body.get("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 200:
        raise Refusal(400, "BadRequest", "limit must be a whole number from 1 to 200")
    now = service.clock()
    rows = []
    for stored in service.table.mine(caller.user, caller.arn, limit):
        row = stored.record.to_export(now)
        row["renew_until"] = iso(stored.renew_until) if stored.renew_until else None
        row["credentials_valid_until"] = iso(stored.valid_until) if stored.valid_until else None
        rows.append(row)
    return {"user": caller.user, "sessions": rows}


def decisions(
    service: SentinelService, caller: Caller, body: dict[str, Any], note: dict[str, Any]
) -> dict[str, Any]:
    """Read-only: what the service would decide for the caller, per profile and mode.

    Nothing is created or counted; the answer names the rule that decides, so ``sentinel
    list`` and ``policy explain`` can show the service's side.
    """
    doc = service.document()
    wanted = _string(body, "profile")
    note["profile"] = wanted
    targets = [_target(doc, wanted)] if wanted else [doc.profiles[p] for p in sorted(doc.profiles)]
    now = service.clock()
    block = service.table.block(caller.user, now)
    profiles = []
    for target in targets:
        modes = {}
        for name, mode in MODES.items():
            request = Request(
                profile=target.profile,
                user=caller.user,
                mode=mode,
                at=now,
                session_table=service.table.table,
                session_table_source="the service",
                role_arn=target.role_arn,
                via_service=True,
            )
            d = evaluate(doc.policy, request)
            cap = d.max_server_duration
            modes[name] = {
                "allowed": d.allowed and block is None,
                "effect": d.effect.value if d.effect is not None else None,
                "rule": d.rule.name if d.rule else None,
                "rule_number": d.rule.index + 1 if d.rule else None,
                "reason": d.reason,
                "message": None if d.allowed else _service_denial(d, request),
                "max_server_duration_seconds": int(cap.total_seconds()) if cap else None,
            }
        profiles.append({"profile": target.profile, "role_arn": target.role_arn, "modes": modes})
    return {
        "user": caller.user,
        "caller_arn": caller.arn,
        "service_id": service.service_id,
        "policy_source": doc.source,
        "blocked": block.describe() if block is not None else None,
        "profiles": profiles,
    }


def revoke(
    service: SentinelService,
    caller: Caller,
    session_id: str,
    body: dict[str, Any],
    note: dict[str, Any],
) -> dict[str, Any]:
    reason = _required(body, "reason")
    if not is_session_id(session_id):
        raise Refusal(404, "SessionNotFound", "no such session")
    note["session_id"] = session_id
    doc = service.document()
    stored = service.table.get(session_id)
    if stored is None:
        raise Refusal(404, "SessionNotFound", f"no session {session_id}")
    admin = any(fnmatchcase(caller.user, pattern) for pattern in doc.admins)
    if not admin:
        service._limit(doc, caller, "revokes_per_minute", "revoked", "sessions")
    if not admin and stored.caller_arn != caller.arn:
        raise Refusal(
            403,
            "NotAuthorized",
            f"user {caller.user} may revoke only their own "
            "sessions (the service document's admins may revoke any)",
        )
    now = service.clock()
    try:
        revoked = service.table.store.revoke(session_id, caller.user, reason, now)
    except SessionNotFound as exc:
        raise Refusal(409, "SessionEnded", str(exc)) from None
    except SentinelError as exc:
        raise Refusal(503, "SessionTableUnavailable", str(exc)) from None
    with service._lock:
        service._creds.pop(session_id, None)
    iam = None if service.hard_revoke is None else service.hard_revoke(revoked, now)
    if iam is not None:
        note["message"] = iam
    try:  # best effort: the revoke stands; the sweep cancels what this could not
        service.requests.user_revoked(revoked.user, caller.user, now)
    except Exception as exc:
        note["error"] = f"pending access requests not cancelled ({type(exc).__name__})"
    return {"session": revoked.to_export(now), "iam": iam}


# -- a session's own life: renewal, end, and the caller's views ------------------------
# (sentinelgw.service.session_calls)


def refuse_if_blocked_meanwhile(
    service: SentinelService, record: SessionRecord, now: datetime
) -> None:
    """Read the block again, consistently, now that the record and the credentials exist.

    A revoker writes the block first, then finds the user's sessions through an index that
    DynamoDB updates eventually. A session whose first block check came just before the
    block may be missing from that index: if this read sees the block, the session revokes
    itself and its credentials are never handed out; if it does not, the credentials were
    issued before the block was written, and a blocked user's revocation denies every
    credential of the user issued before then (see docs/security.md).
    """
    block = service.table.block(record.user, service.clock())
    if block is None:
        return
    with service._lock:
        service._creds.pop(record.id, None)
    try:
        service.table.store.revoke(
            record.id,
            f"sentinel service {service.service_id}",
            "the user was blocked while the session started",
            now,
        )
    except SentinelError:
        pass  # revoked or ended meanwhile; its credentials were never handed out
    raise Refusal(403, "UserBlocked", block.describe())


def record_expiry(service: SentinelService, record: SessionRecord, creds: AwsCredentials) -> None:
    """Keep STS's expiry in the record (``credentials_expire_at``): STS issues at least 15
    minutes, so credentials can outlive ``expires_at``, and a revoke decides by it whether
    they may still be valid. Best effort: without it, ``expires_at`` is used."""
    if creds.expiration is None or creds.expiration <= record.credentials_end():
        return
    try:
        service.table.store.touch(
            record.id, 0, service.clock(), credentials_expire_at=creds.expiration
        )
    except SentinelError:
        pass


def healthy(service: SentinelService) -> dict[str, Any]:
    loaded = service.documents.loaded
    reachable = service.table.reachable()
    return {
        "status": "ok" if loaded and reachable else "unavailable",
        "policy_loaded": loaded,
        "table_reachable": reachable,
        "service_id": service.service_id,
    }
