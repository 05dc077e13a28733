"""Messages: the denial hint reproduces the request, validate reads SSM, "no" at a prompt
changes nothing and exits 0, a busy sandbox port is one line."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

from uxhelpers import one_error_line, sandbox_client, ux_env


def test_denial_hint_reproduces_the_request(
    run_sentinel: Any, sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    env = ux_env(sandbox, sandbox_env, tmp_path)
    proc = run_sentinel(
        ["credentials", "--profile", "sso-admin", "--policy", env["UX_POLICY"]], env=env
    )
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    hint = line.split("See why with: ", 1)[1]
    assert hint.startswith(
        "sentinel policy explain --profile sso-admin --mode credential_process --user "
    )
    explained = run_sentinel([*hint.split()[1:], "--policy", env["UX_POLICY"]], env=env)
    assert explained.returncode == 1
    assert "decision: DENY (no rule matched" in explained.stdout


def test_validate_reads_an_ssm_parameter(
    run_sentinel: Any, sandbox: Any, sandbox_env: dict[str, str]
) -> None:
    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    ssm = sandbox_client(sandbox, "ssm")
    good, bad = f"/ux/{uuid.uuid4().hex[:8]}/good", f"/ux/{uuid.uuid4().hex[:8]}/bad"
    ssm.put_parameter(
        Name=good,
        Type="SecureString",
        Value="policies:\n  - name: a\n    match: {profile: dev}\n    effect: allow\n",
    )
    ssm.put_parameter(Name=bad, Type="String", Value="policies:\n  - effect: alow\n")
    env = dict(sandbox_env, AWS_PROFILE=SOURCE_PROFILE)
    ok = run_sentinel(["policy", "validate", f"ssm:{good}"], env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"ssm:{good}: valid, 1 rule (policies: form)"
    invalid = run_sentinel(["policy", "validate", f"ssm:{bad}"], env=env)
    assert invalid.returncode == 2
    assert "unknown effect 'alow'" in invalid.stderr
    missing = run_sentinel(["policy", "validate", "ssm:/ux/absent"], env=env)
    assert missing.returncode == 2 and "was not found" in one_error_line(missing.stderr)


def _answer_in_a_terminal(argv: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True
    )
    os.close(secondary)
    out, answered = b"", False
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not answered and b"Apply this plan?" in out:
            os.write(primary, answer)
            answered = True
    proc.wait(timeout=60)
    os.close(primary)
    return proc.returncode, out.decode(errors="replace")


def test_no_at_the_confirmation_changes_nothing(sandbox: Any, sandbox_env: dict[str, str]) -> None:
    from tests.conftest import sentinel_command

    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    table = f"ux-declined-{uuid.uuid4().hex[:8]}"
    code, out = _answer_in_a_terminal(
        [*sentinel_command(), "init", "sessions", "--table", table],
        dict(sandbox_env, AWS_PROFILE=SOURCE_PROFILE),
        b"n\n",
    )
    assert code == 0, out
    assert "nothing changed" in out and "error" not in out
    assert table not in sandbox_client(sandbox, "dynamodb").list_tables()["TableNames"]


def test_dev_on_a_busy_port_is_one_line(run_sentinel: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_sentinel(["dev", "--port", str(port)], timeout=60)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == (
        f"sentinel: error: cannot listen on 127.0.0.1:{port}: the port is in use. "
        "Choose another --port, or 0 for a free one"
    )
    assert proc.stdout == ""
