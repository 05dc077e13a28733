"""``sentinel exec --remote``: the credential service decides; this machine only forwards.

The session is started at the service first (a refusal exits 1 before any child runs), as a
*renewable* session: it lasts one lease (``--server-duration``, default 5 minutes) and this
process renews it while the child runs, up to the policy's ``max_server_duration`` (else the
service's 12-hour maximum). The usual loopback credential server serves the child, and each
request it receives is forwarded to the service with a fresh proof, so revocation, blocks and
policy changes are checked by the service on every credential fetch; a refusal is also shown,
throttled, on Sentinel's stderr.

When the child exits, for whatever reason (SIGINT and SIGTERM are forwarded to it), the
session is ended at the service: status ``ended``, with an ``end_reason`` and the time after
which no credential it issued is valid. An exec killed with SIGKILL stops renewing, so the
service refuses its session from the end of its last lease.
"""

from __future__ import annotations

import secrets
import threading
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sentinelgw.exec.child_env import server_mode_env
from sentinelgw.exec.process import command_or_shell, run_child
from sentinelgw.exec.server_mode import listen
from sentinelgw.exec.workdir import create_workdir, remove_workdir
from sentinelgw.server.notices import ThrottledNotice
from sentinelgw.service.client import ServiceRefused, ServiceUnavailable
from sentinelgw.service.forward import ForwardingHandler
from sentinelgw.timeutil import parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentinelgw.context import Context
    from sentinelgw.exec import ExecInput
    from sentinelgw.service.client import RemoteGrant, ServiceClient

IGNORED = (
    ("policy_spec", "--policy"),
    ("session_table", "--session-table"),
    ("no_session_tracking", "--no-session-tracking"),
)
# Renew three times per lease, so two renewals in a row can fail before the session lapses.
RENEWALS_PER_LEASE = 3
MIN_RENEW_INTERVAL = 0.5
MAX_RENEW_INTERVAL = 120.0


def run_remote_exec(ctx: Context, inp: ExecInput, client: ServiceClient) -> int:
    for attr, flag in IGNORED:
        if getattr(inp, attr):
            ctx.note(
                f"note: {flag} is ignored with --remote: the service's policy and table decide"
            )
    grant = client.start(
        inp.profile, mode="server", duration_seconds=_duration(inp), renewable=True
    )
    ending = SessionEnd(ctx, client, grant.session_id)
    with ExitStack() as teardown:
        # Runs last: the session ends once nothing serves or renews it any more.
        teardown.callback(ending.end)
        refusals = ThrottledNotice(lambda message: ctx.note(f"warning: {message}"))
        teardown.callback(refusals.flush)
        try:
            renewer = Renewer(client, grant, refusals, ctx.now)
            renewer.start()
            teardown.callback(renewer.stop)
            token = secrets.token_urlsafe(32)
            handler = ForwardingHandler(
                client,
                grant.session_id,
                on_refusal=refusals if ctx.notify is not None else None,
            )
            server = listen(token, handler, inp.server_port, teardown)
            workdir = create_workdir()  # also removes the folders of servers killed with SIGKILL
            teardown.callback(remove_workdir, workdir)
        except BaseException as exc:
            ending.reason = f"the server did not start: {exc}"
            raise
        env = server_mode_env(
            ctx.env,
            profile=inp.profile,
            url=server.url,
            token=token,
            token_mode=inp.token_mode,
            workdir=workdir,
            region=ctx.region()[0],
            session_id=grant.session_id,
        )
        if ctx.debug:
            ctx.note(
                f"debug: credential server on {server.url}, forwarding to {client.base}; "
                f"session {grant.session_id}, renewed every {renewer.interval:g} s"
            )
        ending.reason = "sentinel exec stopped before the command exited"
        status = run_child(command_or_shell(inp.command, ctx.env), env)
        ending.reason = f"the command exited with status {status}"
    return status


class SessionEnd:
    """Ends the session at the service once, with the reason set last; a failure is a
    warning (the session then lapses at the end of its lease), never the command's status."""

    def __init__(self, ctx: Context, client: ServiceClient, session_id: str) -> None:
        self.ctx = ctx
        self.client = client
        self.session_id = session_id
        self.reason = "sentinel exec stopped"
        self.valid_until: str | None = None

    def end(self) -> None:
        try:
            answer = self.client.end(self.session_id, self.reason[:256])
        except ServiceRefused as exc:
            if exc.code != "SessionEnded":  # already revoked or lapsed: nothing left to end
                self.ctx.note(
                    f"warning: the service refused to end session {self.session_id} "
                    f"({exc.code}): {exc.detail}"
                )
            return
        except ServiceUnavailable as exc:
            self.ctx.note(
                f"warning: could not end session {self.session_id} at the service ({exc}); "
                "it ends by itself at the end of its lease"
            )
            return
        self.valid_until = str(answer.get("credentials_valid_until") or "") or None
        if self.ctx.debug:
            self.ctx.note(
                f"debug: session {self.session_id} ended; no credential it issued is valid "
                f"after {self.valid_until}"
            )


class Renewer:
    """Renews the session every third of its lease until stopped, refused, or at its longest
    lifetime; refusals and outages go to ``notice`` (throttled)."""

    def __init__(
        self,
        client: ServiceClient,
        grant: RemoteGrant,
        notice: Callable[[str, str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.session_id = grant.session_id
        self.notice = notice
        self.renewable = grant.renew_until is not None
        lease = (_parse(grant.expires_at) - clock()).total_seconds()
        self.interval = min(MAX_RENEW_INTERVAL, max(MIN_RENEW_INTERVAL, lease / RENEWALS_PER_LEASE))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sentinel-renew", daemon=True)

    def start(self) -> None:
        if self.renewable:  # a service without renewal: the session keeps its fixed lifetime
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.client.timeout + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                answer = self.client.renew(self.session_id)
            except ServiceRefused as exc:
                self.notice(
                    f"the service refused to renew session {self.session_id} "
                    f"({exc.code}): {exc.detail}",
                    "renew-refused",
                )
                return
            except ServiceUnavailable as exc:
                self.notice(f"cannot renew session {self.session_id}: {exc}", "renew-failed")
                continue
            expires, until = answer.get("expires_at"), answer.get("renew_until")
            if expires and expires == until:
                self.notice(
                    f"session {self.session_id} has reached its longest lifetime; the service "
                    f"refuses its credentials after {expires}",
                    "renew-limit",
                )
                return


def _parse(text: str) -> datetime:
    from datetime import UTC

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC) + timedelta(minutes=5)


def _duration(inp: ExecInput) -> int | None:
    """``--duration`` or ``--server-duration`` is the session's lease at the service: how long
    it lasts without a renewal (capped by its policy)."""
    if inp.duration is not None:
        return inp.duration
    if not inp.server_duration:
        return None

    return int(parse_duration(inp.server_duration, what="--server-duration").total_seconds())
