"""``sentinel exec --server``: wire policy, session tracking, credentials and the child together.

Order matters (PRODUCT.md, issue 4): decide first (mode ``server``); create the session record
*before* any credential exists or the child starts; issue the first credentials; serve; run the
child; and whatever happens to the child, mark the session expired at the end.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelgw.errors import SentinelError, SessionStoreError, UsageError

if TYPE_CHECKING:
    from sentinelgw.cli.common import App
    from sentinelgw.cli.exec_cmd import ExecInput
    from sentinelgw.server.tracker import SessionTracker

DEFAULT_DURATION = timedelta(minutes=15)
STS_MIN_DURATION = 900
CREDENTIALS_PATH = "/sentinel/credentials"
POLICY_REFRESH_SECONDS = 2.0
SWITCH_INTERVAL = 0.0005


def served_duration(flag: str | None, cap: timedelta | None) -> timedelta:
    from sentinelgw.timeutil import format_duration, parse_duration

    wanted = parse_duration(flag, what="--server-duration") if flag else DEFAULT_DURATION
    if wanted < timedelta(minutes=1) or wanted > timedelta(hours=12):
        raise UsageError(
            f"--server-duration {flag} is out of range", hint="Use a value from 1m to 12h"
        )
    if cap is not None and wanted > cap:
        print(
            f"sentinel: note: server credentials capped at {format_duration(cap)} by the "
            "policy's max_server_duration",
            file=sys.stderr,
        )
        return cap
    return wanted


def run_server_exec(app: App, inp: ExecInput) -> int:
    from sentinelgw.credentials.issue import ProfileIssuer
    from sentinelgw.gate import decide, make_request
    from sentinelgw.policy import Mode
    from sentinelgw.policy.source import open_policy_source
    from sentinelgw.process import command_or_shell, run_child
    from sentinelgw.server.handler import RequestHandler
    from sentinelgw.server.http import CredentialHTTPServer
    from sentinelgw.server.refresher import CredentialRefresher
    from sentinelgw.sourceidentity import format_source_identity, new_id
    from sentinelgw.tables import resolve_session_table

    log = app.decision_log()
    policy_source = open_policy_source(inp.policy_spec, app)
    policy = policy_source.current()
    region = app.region()[0]
    issuer = ProfileIssuer.for_profile(app, inp.profile, region)
    identity = issuer.identity()
    table, table_source = resolve_session_table(
        inp.session_table, app.env, app.config(), server_mode=True
    )
    session_id = new_id()
    is_role = issuer.profile.kind == "role"
    source_identity = format_source_identity(identity.user, session_id) if is_role else None
    request = make_request(
        inp.profile,
        identity.user,
        Mode.SERVER,
        app.now(),
        table,
        table_source,
        inp.no_session_tracking,
    )
    decision = decide(
        policy,
        request,
        log,
        request_id=session_id,
        source_identity=source_identity,
        session_id=session_id,
    )
    lifetime = served_duration(inp.server_duration, decision.max_server_duration)
    fail_open = bool(app.config().default("fail_open"))

    tracker = None
    if decision.tracking and decision.session_table:
        from sentinelgw.sessions.blocks import refuse_if_blocked

        # Blocks are read here, by the user's own sentinel: cooperative (the service enforces).
        refuse_if_blocked(tracking_client(app, region, issuer.source_session()),
                          decision.session_table, identity.user, app.now(),
                          required=decision.requires_session_tracking)
        tracker = _start_tracker(
            app,
            issuer.source_session(),
            decision.session_table,
            region,
            session_id,
            identity.user,
            inp.profile,
            issuer.profile.role_arn,
            source_identity,
            lifetime,
            required=decision.requires_session_tracking,
            fail_open=fail_open,
        )
    elif inp.no_session_tracking:
        log.warn(f"session tracking disabled for profile {inp.profile!r} (--no-session-tracking)")

    sts_duration = max(STS_MIN_DURATION, int(lifetime.total_seconds()))

    refresher = CredentialRefresher(
        lambda: issuer.issue(session_id, duration=sts_duration)[0],
        lifetime,
        on_refresh=(lambda c: tracker.extend(c.expiration) if tracker and c.expiration else None),
        on_error=lambda exc: log.warn(f"credential refresh failed: {exc}", session_id=session_id),
    )
    # The revocation poller and the counter flush run boto3 calls in background threads. With
    # CPython's default 5 ms switch interval a request arriving during one of them waits up
    # to 5 ms for the GIL, which is what sets the server's p99; 0.5 ms bounds that wait.
    sys.setswitchinterval(SWITCH_INTERVAL)
    workdir = Path(tempfile.mkdtemp(prefix="sentinel-"))
    server = None
    # SSM policies are re-read in the background from here on; closed in the finally below.
    policy_source.start_refresh(POLICY_REFRESH_SECONDS)
    try:
        refresher.start()
        token = secrets.token_urlsafe(32)
        handler = RequestHandler(
            profile=inp.profile,
            user=identity.user,
            policy_source=policy_source,
            refresher=refresher,
            tracker=tracker,
            log=log,
            session_table=table,
            session_table_source=table_source,
            no_session_tracking=inp.no_session_tracking,
            source_identity=source_identity,
            fail_open=fail_open,
        )
        try:
            server = CredentialHTTPServer(
                token, CREDENTIALS_PATH, handler, port=inp.server_port or 0
            )
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{inp.server_port or 0} ({exc.strerror or exc})",
                hint="Choose another --server-port, or omit it for a random one",
            ) from None
        server.start()
        env = child_env(
            app,
            inp,
            server.url,
            token,
            workdir,
            issuer.region or region,
            session_id if tracker else None,
        )
        if app.debug:
            print(
                f"sentinel: debug: credential server on {server.url}; session "
                f"{session_id if tracker else '(untracked)'}",
                file=sys.stderr,
            )
        return run_child(command_or_shell(inp.command, app.env), env)
    finally:
        if server is not None:
            server.stop()
        refresher.stop()
        policy_source.close()
        if tracker is not None:
            tracker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def tracking_client(app: App, region: str | None, issuer_session: object) -> object:
    """DynamoDB client for the session table: ``--aws-profile`` if given, else the same source
    credentials the session is issued from (the user's own identity). Short timeouts so a
    hanging endpoint cannot stall the revocation poller for long."""
    from sentinelgw.awsclients import client

    kw = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_attempts": 3}
    if app.aws_profile:
        return app.client("dynamodb", region, **kw)
    return client("dynamodb", session=issuer_session, region=region, **kw)  # type: ignore[arg-type]


def _start_tracker(
    app: App,
    issuer_session: object,
    table: str,
    region: str | None,
    session_id: str,
    user: str,
    profile: str,
    role_arn: str | None,
    source_identity: str | None,
    lifetime: timedelta,
    *,
    required: bool,
    fail_open: bool,
) -> SessionTracker | None:
    from sentinelgw.server.tracker import SessionTracker
    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.sessions.store import SessionStore

    now = app.now()
    retention = timedelta(days=int(app.config().default("retention_days") or 90))
    expires = now + lifetime
    record = SessionRecord(
        id=session_id,
        user=user,
        profile=profile,
        role_arn=role_arn or "",
        status="active",
        started_at=now,
        last_access_at=now,
        expires_at=expires,
        request_count=0,
        server_instance_id=_instance_id(),
        source_identity=source_identity or "",
        host=socket.gethostname(),
        revoked_by=None,
        revoked_reason=None,
        revoked_at=None,
        ttl=int((expires + retention).timestamp()),
    )
    client = tracking_client(app, region, issuer_session)
    tracker = SessionTracker(SessionStore(client, table), record, app.decision_log())
    try:
        tracker.start()
    except SentinelError as exc:
        if required:
            raise SessionStoreError(
                f"cannot record the session in table {table!r} ({exc}); the policy requires "
                "session tracking for this profile, so no credentials were issued"
            ) from exc
        if fail_open:
            app.decision_log().warn(
                f"session tracking failed for profile {profile!r} in table {table!r} ({exc}); "
                "continuing untracked because defaults.fail_open is true"
            )
            return None
        raise SessionStoreError(
            f"cannot record the session in table {table!r} ({exc})",
            hint="Fix the table, pass --no-session-tracking, or set defaults.fail_open",
        ) from exc
    return tracker


@functools.cache
def _instance_id() -> str:
    """One id per sentinel process: the record's server_instance_id."""
    from sentinelgw.sourceidentity import new_id

    return new_id()


def child_env(
    app: App,
    inp: ExecInput,
    url: str,
    token: str,
    workdir: Path,
    region: str | None,
    session_id: str | None,
) -> dict[str, str]:
    """The child's environment: the container endpoint and nothing that outranks it.

    botocore's chain puts env keys, profiles, the shared credentials file, config-file keys,
    BOTO_CONFIG and AWS_CREDENTIAL_FILE before the container provider (contracts §2), so we
    remove or neutralise each of them.
    """
    from sentinelgw.process import scrubbed_env

    env = scrubbed_env(app.env)
    config = workdir / "config"
    lines = ["[default]"]
    if region:
        lines.append(f"region = {region}")
    _write_private(config, "\n".join(lines) + "\n")
    env["AWS_CONFIG_FILE"] = str(config)
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["BOTO_CONFIG"] = os.devnull
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url
    if inp.token_mode == "env":
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    else:
        token_file = workdir / "token"
        _write_private(token_file, token)  # no trailing newline: botocore sends it verbatim
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    if region:
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region
    env["AWS_SENTINEL"] = inp.profile
    if session_id:
        env["AWS_SENTINEL_SESSION_ID"] = session_id
    return env


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
