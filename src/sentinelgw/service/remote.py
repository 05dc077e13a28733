"""Choosing the credential service for a command, and its client for the caller's context.

The URL is ``--remote``, else ``SENTINEL_REMOTE``, else ``defaults.remote``; ``--local`` forces
local mode whatever is set. ``defaults.remote`` and ``defaults.remote_service_id`` count only
from the system or user config: a project ``sentinel.yaml`` or ``--config`` file that sets them
could send the user's proofs to a service of its choosing, so it is ignored with a warning that
names the file. The proofs are signed with Sentinel's own credentials for the
caller (``--aws-profile``, else the default chain): any valid credentials, no permission needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinelgw.credentials.cache import (
    drop_remote_session,
    load_remote_session,
    remote_session_key,
    store_remote_session,
)
from sentinelgw.errors import UsageError
from sentinelgw.inert import visible

# The service client (urllib, ssl, xml) is imported where it is used: a command in local mode
# only resolves that there is no service, and should not pay for its HTTPS stack.
if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.service.client import RemoteGrant, ServiceClient


def resolve_remote(ctx: Context, flag: str | None, local: bool) -> str | None:
    """The service URL to use, or None for local mode."""
    if local:
        if flag:
            raise UsageError("--remote and --local exclude each other")
        return None
    _warn_ignored(ctx)
    if flag:
        return flag
    if ctx.env.get("SENTINEL_REMOTE"):
        return ctx.env["SENTINEL_REMOTE"]
    setting = ctx.config().defaults.get("remote")
    return str(setting.value) if setting is not None else None


def remote_source(ctx: Context, flag: str | None, local: bool) -> tuple[str | None, str]:
    """:func:`resolve_remote` and where the answer came from (for ``config show``)."""
    url = resolve_remote(ctx, flag, local)
    if local:
        return None, "--local"
    if flag:
        return url, "--remote"
    if ctx.env.get("SENTINEL_REMOTE"):
        return url, "env SENTINEL_REMOTE"
    setting = ctx.config().defaults.get("remote")
    if setting is not None:
        return url, setting.source
    return None, "not set: local mode"


def decision_text(mode: dict[str, Any]) -> str:
    """One mode of the service's ``/v1/me/decisions`` answer as ``sentinel list`` shows a local
    decision: ``allow #1 prod-tracked``."""
    verdict = "allow" if mode.get("allowed") else "deny"
    if not mode.get("rule"):
        return f"{verdict} (no rule)"
    return f"{verdict} #{mode.get('rule_number')} {mode.get('rule')}"


def _warn_ignored(ctx: Context) -> None:
    ignored = ctx.config().ignored_remote
    if ignored:
        ctx.note(
            f"warning: ignored defaults.remote/remote_service_id in {visible(ignored[0])}"
            f"{f' (and {len(ignored) - 1} more)' if len(ignored) > 1 else ''}: only your own "
            "config (~/.sentinel/config.yaml), SENTINEL_REMOTE or --remote choose the service"
        )


def service_id_for(ctx: Context, url: str) -> str | None:
    """The configured service id for ``url``, or None: proofs then name ``url``'s origin.

    ``SENTINEL_REMOTE_SERVICE_ID`` goes with ``SENTINEL_REMOTE`` and the user's
    ``defaults.remote_service_id`` with their ``defaults.remote``: an id is used only for the
    origin of the URL configured beside it (or for any URL when none is), so ``--remote``
    naming another host gets a proof for that host alone.
    """
    from sentinelgw.service.client import service_origin

    cfg = ctx.config()
    if ctx.env.get("SENTINEL_REMOTE_SERVICE_ID"):
        service_id, name = ctx.env["SENTINEL_REMOTE_SERVICE_ID"], "SENTINEL_REMOTE_SERVICE_ID"
        paired = ctx.env.get("SENTINEL_REMOTE") or cfg.default("remote")
    elif cfg.default("remote_service_id"):
        service_id, name = str(cfg.default("remote_service_id")), "defaults.remote_service_id"
        paired = cfg.default("remote")
    else:
        return None
    if paired and service_origin(str(paired)) != service_origin(url):
        ctx.note(
            f"warning: {name} is for {visible(service_origin(str(paired)))}, not "
            f"{visible(service_origin(url))}; the proof names {visible(service_origin(url))}"
        )
        return None
    return service_id


def remote_client(ctx: Context, url: str) -> ServiceClient:
    from sentinelgw.service.client import client_for_session

    service_id = service_id_for(ctx, url)
    region = ctx.region()[0]
    return client_for_session(url, ctx.aws_session(region), region=region, service_id=service_id)


# Refusals that mean only "this session is over": the next call starts a new session. Any other
# refusal (a revocation, a block, the policy) is the answer.
SESSION_OVER = frozenset(
    {"SessionExpired", "SessionEnded", "SessionNotFound", "NotSessionOwner", "ProfileChanged"}
)


def remote_credentials(
    ctx: Context,
    client: ServiceClient,
    profile: str,
    *,
    mode: str = "credential_process",
    duration_seconds: int | None = None,
    use_cache: bool = True,
) -> RemoteGrant:
    """Credentials for ``profile`` through the service, from one live session per profile.

    The cached session is asked first (the service refreshes its credentials until its end);
    a session that is over is replaced by a new one. A revoked session is refused once and
    forgotten, so the caller sees the revocation, and the next call starts a new session
    unless the user is blocked. ``use_cache=False`` starts a new session and remembers none.
    """
    from sentinelgw.service.client import ServiceRefused

    key = remote_session_key(
        ctx.env,
        service_id=client.service_id,
        profile=profile,
        mode=mode,
        aws_profile=ctx.aws_profile,
        duration=duration_seconds,
    )
    session_id = load_remote_session(ctx.env, key, ctx.now()) if use_cache else None
    if session_id is not None:
        try:
            return client.credentials(session_id)
        except ServiceRefused as exc:
            drop_remote_session(ctx.env, key)
            if exc.code not in SESSION_OVER:
                raise
    grant = client.start(profile, mode=mode, duration_seconds=duration_seconds)
    if use_cache:
        store_remote_session(ctx.env, key, grant.session_id, grant.expires_at)
    return grant
