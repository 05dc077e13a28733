"""``sentinel exec --server``: policy, session tracking, credentials and the child, in order.

Decide first (mode ``server``); create the session record before any credential exists or
the child starts; issue the first credentials; serve them; run the child; and whatever
happens to the child, stop serving and mark the session expired at the end.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sentinelgw.credentials.gate import decide, make_request
from sentinelgw.credentials.providers import provider_for
from sentinelgw.errors import SentinelError, UsageError
from sentinelgw.exec.child_env import child_region_for, server_mode_env
from sentinelgw.exec.process import command_or_shell, run_child
from sentinelgw.exec.tracking import SessionInfo, start_tracker, tracking_client
from sentinelgw.exec.workdir import create_workdir, remove_workdir
from sentinelgw.policy import Mode
from sentinelgw.policy.source import open_policy_source
from sentinelgw.server.handler import RequestHandler
from sentinelgw.server.http import CredentialHTTPServer
from sentinelgw.server.notices import ThrottledNotice
from sentinelgw.server.refresher import CredentialRefresher
from sentinelgw.session_table import resolve_session_table
from sentinelgw.sessions.blocks import UserBlocked, refuse_if_blocked
from sentinelgw.sourceidentity import new_id
from sentinelgw.timeutil import format_duration, parse_duration

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.credentials.model import AwsCredentials
    from sentinelgw.credentials.providers import CredentialPlan, ProfileProvider
    from sentinelgw.exec import ExecInput
    from sentinelgw.policy import Decision
    from sentinelgw.policy.source import PolicySource
    from sentinelgw.server.http import Response
    from sentinelgw.server.tracker import SessionTracker

DEFAULT_DURATION = timedelta(minutes=15)
STS_MIN_DURATION = 900
CREDENTIALS_PATH = "/sentinel/credentials"
POLICY_REFRESH_SECONDS = 2.0
SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True, kw_only=True)
class Admitted:
    """A server session the policy allowed: who, under which rule, for how long."""

    provider: ProfileProvider
    plan: CredentialPlan
    policy_source: PolicySource
    decision: Decision
    table: str | None
    table_source: str | None
    region: str | None
    lifetime: timedelta
    fail_open: bool

    @property
    def session_id(self) -> str:
        return self.plan.request_id


def run_server_exec(ctx: Context, inp: ExecInput) -> int:
    """Run ``inp.command`` against a local credential server; return the child's status."""
    with ExitStack() as teardown:  # undoes, in reverse order, what each step set up
        log = ctx.decision_log()
        # One line per credential request, written in batches off the request path; the
        # rest is written when everything else has stopped.
        log.start_batching()
        teardown.callback(log.close)
        admitted = admit(ctx, inp)
        tracker = track(ctx, inp, admitted, teardown)
        try:
            refresher = start_refresher(ctx, admitted, tracker, teardown)
            token = secrets.token_urlsafe(32)
            server = start_server(ctx, inp, admitted, refresher, tracker, token, teardown)
        except SentinelError as exc:
            if tracker is not None:
                tracker.end_reason = f"the server did not start: {exc}"
            raise
        status = run_child_against(ctx, inp, admitted, server, token, tracker, teardown)
        if tracker is not None:
            tracker.end_reason = f"the command exited with status {status}"
    return status


def admit(ctx: Context, inp: ExecInput) -> Admitted:
    """Evaluate the policy in mode ``server`` for the caller; PolicyDenied if it says no."""
    policy_source = open_policy_source(inp.policy_spec, ctx, debug_policy=inp.debug_policy)
    policy = policy_source.current()
    region = ctx.region()[0]
    provider = provider_for(ctx, inp.profile, region)
    table, table_source = resolve_session_table(
        inp.session_table, ctx.env, ctx.config(), server_mode=True
    )
    plan = provider.plan(new_id())
    request = make_request(
        inp.profile,
        plan.identity.user,
        Mode.SERVER,
        ctx.now(),
        table,
        table_source,
        inp.no_session_tracking,
        role_arn=plan.role_arn,
        config_session_table=ctx.config().default("session_table"),
    )
    decision = decide(
        policy,
        request,
        ctx.decision_log(),
        request_id=plan.request_id,
        source_identity=plan.source_identity,
        session_id=plan.request_id,
    )
    return Admitted(
        provider=provider,
        plan=plan,
        policy_source=policy_source,
        decision=decision,
        table=table,
        table_source=table_source,
        region=region,
        lifetime=served_duration(ctx, inp.server_duration, decision.max_server_duration),
        fail_open=bool(ctx.config().default("fail_open")),
    )


def served_duration(ctx: Context, flag: str | None, cap: timedelta | None) -> timedelta:
    """``--server-duration`` (default 15m, 1m to 12h), capped by the policy's maximum."""
    wanted = parse_duration(flag, what="--server-duration") if flag else DEFAULT_DURATION
    if wanted < timedelta(minutes=1) or wanted > timedelta(hours=12):
        raise UsageError(
            f"--server-duration {flag} is out of range", hint="Use a value from 1m to 12h"
        )
    if cap is not None and wanted > cap:
        ctx.note(
            f"note: server credentials capped at {format_duration(cap)} by the "
            "policy's max_server_duration"
        )
        return cap
    return wanted


def track(
    ctx: Context, inp: ExecInput, admitted: Admitted, teardown: ExitStack
) -> SessionTracker | None:
    """Record the session in its table (when tracking applies); expired again at teardown."""
    decision = admitted.decision
    if not (decision.tracking and decision.session_table):
        if inp.no_session_tracking:
            ctx.decision_log().warn(
                f"session tracking disabled for profile {inp.profile!r} (--no-session-tracking)"
            )
        return None
    info = SessionInfo(
        table=decision.session_table,
        session_id=admitted.session_id,
        user=admitted.plan.identity.user,
        profile=inp.profile,
        role_arn=admitted.provider.profile.role_arn,
        source_identity=admitted.plan.source_identity,
        lifetime=admitted.lifetime,
    )
    client = tracking_client(ctx, admitted.region, admitted.provider.source_session())
    # Blocks are read here, by the user's own sentinel: cooperative (the service enforces them).
    refuse_if_blocked(
        client, info.table, info.user, ctx.now(), required=decision.requires_session_tracking
    )
    tracker = start_tracker(
        ctx,
        info,
        client,
        required=decision.requires_session_tracking,
        fail_open=admitted.fail_open,
    )
    if tracker is not None:
        teardown.callback(tracker.stop)
        # Read the block again now that the record exists: a block written since the first
        # read refuses the session before any credential is issued, and one written after this
        # read finds the record (see sentinelgw.sessions.revocation.revoke.revoke_user).
        try:
            refuse_if_blocked(
                client,
                info.table,
                info.user,
                ctx.now(),
                required=decision.requires_session_tracking,
            )
        except UserBlocked:
            tracker.end_reason = "the user was blocked while the session started"
            raise
    return tracker


def start_refresher(
    ctx: Context, admitted: Admitted, tracker: SessionTracker | None, teardown: ExitStack
) -> CredentialRefresher:
    """Issue the first credentials and keep them fresh; also starts the SSM policy refresh."""
    log = ctx.decision_log()
    session_id = admitted.session_id
    sts_duration = max(STS_MIN_DURATION, int(admitted.lifetime.total_seconds()))
    refresher = CredentialRefresher(
        lambda: admitted.provider.retrieve(admitted.plan, duration=sts_duration).credentials,
        admitted.lifetime,
        on_refresh=(lambda c: _issued(tracker, c)),
        on_issue=(lambda c: tracker.issued(c.expiration) if tracker and c.expiration else None),
        on_error=lambda exc: log.warn(f"credential refresh failed: {exc}", session_id=session_id),
    )
    # The revocation poller and the counter flush run boto3 calls in background threads. With
    # CPython's default 5 ms switch interval a request arriving during one of them waits up
    # to 5 ms for the GIL, which is what sets the server's p99; 0.5 ms bounds that wait.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # SSM policies are re-read in the background from here on.
    admitted.policy_source.start_refresh(POLICY_REFRESH_SECONDS)
    teardown.callback(admitted.policy_source.close)
    teardown.callback(refresher.stop)
    refresher.start()
    return refresher


def _issued(tracker: SessionTracker | None, creds: AwsCredentials) -> None:
    """New credentials: their key goes into the session record, their expiry extends it."""
    if tracker is None:
        return
    tracker.add_key(creds.access_key_id)
    if creds.expiration:
        tracker.extend(creds.expiration)


def start_server(
    ctx: Context,
    inp: ExecInput,
    admitted: Admitted,
    refresher: CredentialRefresher,
    tracker: SessionTracker | None,
    token: str,
    teardown: ExitStack,
) -> CredentialHTTPServer:
    """Listen on 127.0.0.1 (``--server-port`` or a random port) with the per-request checks."""
    refusals = ThrottledNotice(lambda message: ctx.note(f"warning: {message}"))
    teardown.callback(refusals.flush)

    handler = RequestHandler(
        profile=inp.profile,
        user=admitted.plan.identity.user,
        policy_source=admitted.policy_source,
        refresher=refresher,
        tracker=tracker,
        log=ctx.decision_log(),
        session_table=admitted.table,
        session_table_source=admitted.table_source,
        no_session_tracking=inp.no_session_tracking,
        source_identity=admitted.plan.source_identity,
        fail_open=admitted.fail_open,
        role_arn=admitted.plan.role_arn,
        config_session_table=ctx.config().default("session_table"),
        on_refusal=refusals if ctx.notify is not None else None,
    )
    on_reject = handler.log_rejected if ctx.decision_log().enabled else None
    return listen(token, handler, inp.server_port, teardown, on_reject=on_reject)


def listen(
    token: str,
    handler: Callable[[], Response],
    port: int | None,
    teardown: ExitStack,
    *,
    on_reject: Callable[[Response], None] | None = None,
) -> CredentialHTTPServer:
    """The loopback credential server for ``handler`` on ``port`` (None: a random one),
    started, and stopped by ``teardown``; a busy port is a usage error."""
    try:
        server = CredentialHTTPServer(
            token, CREDENTIALS_PATH, handler, port=port or 0, on_reject=on_reject
        )
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port or 0} ({exc.strerror or exc})",
            hint="Choose another --server-port, or omit it for a random one",
        ) from None
    server.start()
    teardown.callback(server.stop)
    return server


def run_child_against(
    ctx: Context,
    inp: ExecInput,
    admitted: Admitted,
    server: CredentialHTTPServer,
    token: str,
    tracker: SessionTracker | None,
    teardown: ExitStack,
) -> int:
    """Run the child with the endpoint in its environment; return its exit status."""
    workdir = create_workdir()  # also removes the folders of servers killed with SIGKILL
    teardown.callback(remove_workdir, workdir)
    session_id = admitted.session_id if tracker else None
    env = server_mode_env(
        ctx.env,
        profile=inp.profile,
        url=server.url,
        token=token,
        token_mode=inp.token_mode,
        workdir=workdir,
        region=child_region_for(ctx, admitted.provider.profile.region),
        session_id=session_id,
    )
    if ctx.debug:
        ctx.note(f"debug: credential server on {server.url}; session {session_id or '(untracked)'}")
    return run_child(command_or_shell(inp.command, ctx.env), env)
