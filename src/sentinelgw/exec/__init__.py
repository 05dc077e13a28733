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

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ExecInput:
    """What ``sentinel exec`` was asked to do, flags already parsed."""

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
