"""``ExecInput.validate()``: exec's flag rules, without a command line or a sandbox."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from sentinelgw.errors import UsageError
from sentinelgw.exec import ExecInput


def make(**flags: Any) -> ExecInput:
    base: dict[str, Any] = {
        "profile": "dev",
        "command": ("true",),
        "policy_spec": None,
        "server": False,
        "session_table": None,
        "no_session_tracking": False,
        "server_port": None,
        "server_duration": None,
        "token_mode": "file",
    }
    base.update(flags)
    return ExecInput(**base)


@pytest.mark.parametrize(
    "flags",
    [{"server_port": 0}, {"server_duration": "1h"}, {"no_session_tracking": True}],
)
def test_server_flags_without_server_are_refused(flags: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="need --server"):
        make(**flags).validate()


def test_server_flags_are_accepted_with_a_credential_service() -> None:
    inp = make(server_duration="1h", remote=True).validate()
    assert inp.server_duration == "1h"


def test_no_cache_in_server_mode_is_refused() -> None:
    with pytest.raises(UsageError, match="--no-cache applies to CLI mode"):
        make(server=True, no_cache=True).validate()


def test_duration_and_server_duration_together_in_server_mode_are_refused() -> None:
    with pytest.raises(UsageError, match="not both"):
        make(server=True, duration_flag="1h", server_duration="2h").validate()


def test_duration_is_the_servers_lifetime_in_server_mode() -> None:
    # Not the 15m..12h role range: the server's lifetime is capped by the policy instead.
    inp = make(server=True, duration_flag="24h").validate()
    assert (inp.server_duration, inp.duration) == ("24h", None)


def test_duration_is_the_role_credentials_seconds_in_cli_mode() -> None:
    inp = make(duration_flag="4h").validate()
    assert (inp.duration, inp.server_duration) == (4 * 3600, None)


@pytest.mark.parametrize("text", ["10m", "13h", "soon"])
def test_duration_out_of_range_or_unreadable_in_cli_mode_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--duration"):
        make(duration_flag=text).validate()


def test_no_duration_leaves_both_unset() -> None:
    inp = make().validate()
    assert (inp.duration, inp.server_duration) == (None, None)


def test_the_exec_command_imports_no_mode_before_it_runs_one() -> None:
    """Each mode (and the service client's HTTPS stack) is imported when it runs: an exec
    in local mode pays for none of the remote code, and the other way round."""
    lazy = (
        "sentinelgw.exec.cli_mode",
        "sentinelgw.exec.server_mode",
        "sentinelgw.exec.remote_mode",
        "sentinelgw.service.client",
        "urllib.request",
    )
    probe = (
        "import sys, sentinelgw.cli.exec_cmd; "
        f"print(','.join(m for m in {lazy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
