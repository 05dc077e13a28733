"""``sentinel exec --remote``: the credential service decides; this machine only forwards.

The session is started at the service first (a refusal exits 1 before any child runs). Then
the usual loopback credential server serves the child, and each request it receives is
forwarded to the service with a fresh proof, so revocation, blocks and policy changes are
checked by the service on every credential fetch.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.exec import ExecInput
    from sentinelgw.service.client import ServiceClient

IGNORED = (
    ("policy_spec", "--policy"),
    ("session_table", "--session-table"),
    ("no_session_tracking", "--no-session-tracking"),
)


def run_remote_exec(ctx: Context, inp: ExecInput, client: ServiceClient) -> int:
    from sentinelgw.exec.child_env import server_mode_env
    from sentinelgw.exec.process import command_or_shell, run_child
    from sentinelgw.exec.server_mode import listen
    from sentinelgw.exec.workdir import create_workdir, remove_workdir
    from sentinelgw.service.forward import ForwardingHandler

    for attr, flag in IGNORED:
        if getattr(inp, attr):
            ctx.note(
                f"note: {flag} is ignored with --remote: the service's policy and table decide"
            )
    grant = client.start(inp.profile, mode="server", duration_seconds=_duration(inp))
    with ExitStack() as teardown:
        token = secrets.token_urlsafe(32)
        handler = ForwardingHandler(client, grant.session_id)
        server = listen(token, handler, inp.server_port, teardown)
        workdir = create_workdir()  # also removes the folders of servers killed with SIGKILL
        teardown.callback(remove_workdir, workdir)
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
                f"session {grant.session_id}"
            )
        status = run_child(command_or_shell(inp.command, ctx.env), env)
    return status


def _duration(inp: ExecInput) -> int | None:
    """``--duration`` or ``--server-duration`` is the session's lifetime at the service (capped
    by its policy)."""
    if inp.duration is not None:
        return inp.duration
    if not inp.server_duration:
        return None
    from sentinelgw.timeutil import parse_duration

    return int(parse_duration(inp.server_duration, what="--server-duration").total_seconds())
