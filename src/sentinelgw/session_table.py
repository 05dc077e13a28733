"""Which session table a request uses, and why.

Highest first: the matched rule's ``session_table`` (applied by policy evaluation, because the
policy is the source of truth); ``--session-table``; ``SENTINEL_SESSION_TABLE`` (server mode
only, ignored otherwise); ``defaults.session_table``. This module resolves everything below
the rule; :func:`sentinelgw.policy.evaluate` applies the rule on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentinelgw.config import Config

ENV_VAR = "SENTINEL_SESSION_TABLE"
FLAG_SOURCE = "--session-table"
# The table a fix names, `sentinel init` creates and `sentinel dev` provisions, when none is set.
DEFAULT_SESSION_TABLE = "sentinel-sessions"


def resolve_session_table(
    flag: str | None,
    env: Mapping[str, str],
    config: Config,
    *,
    server_mode: bool,
) -> tuple[str | None, str | None]:
    """(table, source) from flag, environment and config; (None, None) when none applies."""
    if flag:
        return flag, FLAG_SOURCE
    if server_mode and env.get(ENV_VAR):
        return env[ENV_VAR], f"env {ENV_VAR}"
    setting = config.defaults.get("session_table")
    if setting is not None and setting.value:
        return str(setting.value), setting.source
    return None, None


def resolve_admin_table(
    flag: str | None, env: Mapping[str, str], config: Config
) -> tuple[str | None, str | None]:
    """Table for the security team's commands (list, revoke, audit): flag, env, defaults."""
    return resolve_session_table(flag, env, config, server_mode=True)
