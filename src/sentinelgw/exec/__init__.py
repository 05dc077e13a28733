"""``sentinel exec`` in both modes, without the command line.

- :mod:`sentinelgw.exec.cli_mode`: short-lived keys in the child's environment;
- :mod:`sentinelgw.exec.server_mode`: a local credential endpoint, the session record and
  the child, set up and torn down in order;
- :mod:`sentinelgw.exec.tracking`: the session record of a server session;
- :mod:`sentinelgw.exec.child_env`: the child's environment in each mode;
- :mod:`sentinelgw.exec.workdir`: the server's private work folder, and removing those left
  behind by a killed server;
- :mod:`sentinelgw.exec.process`: starting the child and forwarding signals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sentinelgw.errors import UsageError
from sentinelgw.timeutil import role_duration_seconds


@dataclass(frozen=True, kw_only=True)
class ExecInput:
    """What ``sentinel exec`` was asked to do, flags already parsed; :meth:`validate` applies
    the rules between them before anything runs."""

    profile: str
    command: tuple[str, ...]
    policy_spec: str | None
    server: bool
    session_table: str | None
    no_session_tracking: bool
    server_port: int | None
    server_duration: str | None
    token_mode: str  # "file" (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) or "env"
    debug_policy: bool = False  # --policy allowed over a pinned central source (logged)
    duration: int | None = None  # CLI mode: seconds the role credentials last (--duration)
    no_cache: bool = False  # CLI mode: neither read nor write the credentials cache
    no_session: bool = False  # CLI mode: a static profile's own keys, no GetSessionToken
    # --duration as given: the role credentials' lifetime in CLI and remote mode, the
    # server's (as --server-duration) in server mode; validate() moves it where it belongs.
    duration_flag: str | None = None
    remote: bool = False  # a credential service answers (--remote, SENTINEL_REMOTE, config)

    def validate(self) -> ExecInput:
        """The input to run, or a UsageError naming the flags that do not go together.

        The server's flags need ``--server`` (or a credential service); the cache is CLI
        mode's; ``--duration`` is the server's lifetime in server mode, so it cannot be given
        with ``--server-duration`` there.
        """
        if (
            not self.remote
            and not self.server
            and (self.server_port is not None or self.server_duration or self.no_session_tracking)
        ):
            raise UsageError(
                "--server-port, --server-duration and --no-session-tracking need --server"
            )
        if self.server and self.no_cache:
            raise UsageError("--no-cache applies to CLI mode; server mode never uses the cache")
        if self.server and self.duration_flag and self.server_duration:
            raise UsageError("give --duration or --server-duration, not both")
        if self.server:
            return replace(
                self, duration=None, server_duration=self.duration_flag or self.server_duration
            )
        return replace(self, duration=role_duration_seconds(self.duration_flag))
