"""Checks and small values of the credential service's session calls: request fields,
lifetimes, the caller kinds a profile serves, the policy's denial with the service's fix, and
the end of the credentials a session issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.policy import Decision, Mode, Request, denial_message
from sentinelgw.service.caller import ASSUMED_ROLE, SSO_ROLE_PATH, SSO_ROLE_PREFIX, Caller
from sentinelgw.service.document import CALLER_KINDS, ROLE_CALLER, ServiceDocument, Target
from sentinelgw.service.refusal import Refusal
from sentinelgw.sessions.model import SessionRecord

CREDENTIAL_SECONDS = 3600
STS_MIN_SECONDS = 900
DEFAULT_SESSION = timedelta(hours=1)
MAX_SESSION = timedelta(hours=12)
MIN_SESSION = timedelta(minutes=1)
MODES = {
    "server": Mode.SERVER,
    "credential_process": Mode.CREDENTIAL_PROCESS,
    "console": Mode.CONSOLE,
}


@dataclass(frozen=True, slots=True)
class Grant:
    """Credentials handed to a caller, and the session they belong to."""

    session_id: str
    credentials: AwsCredentials
    expires_at: datetime
    user: str
    profile: str
    role_arn: str
    source_identity: str
    # A renewable session's latest possible end (None: the session cannot be renewed).
    renew_until: datetime | None = None


def credentials_valid_until(record: SessionRecord, now: datetime, *, leased: bool) -> datetime:
    """The time after which no credential issued for ``record`` is valid, if it ends ``now``.

    Credentials are issued only while the session is active, so at the latest at
    ``min(now, expires_at)``; they last STS's 15 minutes (a renewable session) or until the
    session's end within 15 minutes to an hour (see :meth:`SentinelService._assume`), and that
    length never shrinks as the issue time moves later, so the last possible issue bounds all.
    """
    last = min(now, record.expires_at)
    if leased:
        return last + timedelta(seconds=STS_MIN_SECONDS)
    left = int((record.expires_at - last).total_seconds())
    return last + timedelta(seconds=max(STS_MIN_SECONDS, min(CREDENTIAL_SECONDS, left)))


def _refuse_unless_active(record: SessionRecord, now: datetime) -> None:
    if record.effective_status(now) == "revoked":
        by = f" by {record.revoked_by}" if record.revoked_by else ""
        why = f": {record.revoked_reason}" if record.revoked_reason else ""
        raise Refusal(403, "SessionRevoked", f"session {record.id} was revoked{by}{why}")
    if record.effective_status(now) != "active":
        raise Refusal(403, "SessionExpired", f"session {record.id} has ended; start a new one")


def _service_denial(decision: Decision, request: Request) -> str:
    """The policy's denial text, with the fix the service can offer (a remote exec session)."""
    rule = decision.rule
    if decision.denial == "not_server" and rule is not None:
        return (
            f"policy rule {rule.label()} requires a server session for profile "
            f"'{request.profile}', so credential_process credentials are not issued for it. "
            f"Run: sentinel exec --remote URL --profile {request.profile} -- ..."
        )
    return denial_message(decision, request)


def _grant(
    record: SessionRecord, creds: AwsCredentials, renew_until: datetime | None = None
) -> Grant:
    return Grant(
        session_id=record.id,
        credentials=creds,
        expires_at=record.expires_at,
        user=record.user,
        profile=record.profile,
        role_arn=record.role_arn,
        source_identity=record.source_identity,
        renew_until=renew_until,
    )


def _target(doc: ServiceDocument, profile: str) -> Target:
    target = doc.profiles.get(profile)
    if target is None:
        # Only the name asked for: the list of profiles is not every caller's to read.
        raise Refusal(
            403,
            "UnknownProfile",
            f"the service has no profile {profile!r} for you; check the name with the "
            "service's operators",
        )
    return target


_KIND_NAMES = {"iam-user": "IAM users", "identity-center": "Identity Center users"}


def _check_caller_kind(target: Target, caller: Caller, decision: Decision) -> None:
    """Refuse a caller kind the profile does not serve (see the module docstring)."""
    accepted = target.callers
    if accepted is None:
        if not (decision.requires_server or decision.requires_session_tracking):
            return
        accepted = CALLER_KINDS
    if caller.kind in accepted:
        return
    roles = [a[len(ROLE_CALLER) :] for a in accepted if a.startswith(ROLE_CALLER)]
    if caller.kind == ASSUMED_ROLE and any(fnmatchcase(caller.role or "", r) for r in roles):
        return
    served = [_KIND_NAMES[a] for a in accepted if a in _KIND_NAMES]
    served += [f"sessions of role {r}" for r in roles]
    what = "a role session" if caller.kind == ASSUMED_ROLE else _KIND_NAMES[caller.kind][:-1]
    fix = "call with your own IAM user or Identity Center sign-in, not an assumed role"
    if (caller.role or "").startswith(SSO_ROLE_PREFIX):
        fix = (
            "IAM did not confirm it as an Identity Center role (the service reads roles under "
            f"{SSO_ROLE_PATH} with iam:GetRole; its operators may need to re-run "
            "sentinel init tvm)"
        )
    raise Refusal(
        403,
        "CallerKindNotAllowed",
        f"profile {target.profile} serves {' and '.join(served) or 'no caller'} only, and "
        f"you called as {what} ({caller.user}); {fix}",
    )


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise Refusal(
            400, "BadRequest", f"'{key}' must be a non-empty string of at most 256 characters"
        )
    return value.strip()


def _required(body: dict[str, Any], key: str) -> str:
    value = _string(body, key, required=True)
    assert value is not None
    return value


def _lifetime(
    raw: Any,
    cap: timedelta | None,
    *,
    default: timedelta = DEFAULT_SESSION,
    minimum: timedelta = MIN_SESSION,
) -> timedelta:
    if raw is None:
        wanted = default
    elif isinstance(raw, int) and not isinstance(raw, bool):
        # Checked as a number first: timedelta(seconds=10**100) overflows.
        if not 0 < raw <= MAX_SESSION.total_seconds():
            low = int(minimum.total_seconds())
            raise Refusal(400, "BadRequest", f"duration_seconds must be from {low} to 43200")
        wanted = timedelta(seconds=raw)
    else:
        raise Refusal(400, "BadRequest", "duration_seconds must be a whole number of seconds")
    if not minimum <= wanted <= MAX_SESSION:
        low = int(minimum.total_seconds())
        raise Refusal(400, "BadRequest", f"duration_seconds must be from {low} to 43200")
    return min(wanted, cap) if cap is not None else wanted


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise Refusal(400, "BadRequest", f"'{key}' must be true or false")
    return value
