"""The sides of ``sentinel demo --service``: running commands on one sandbox (shown, with their
decisive line), the sessions alice holds there, and how a move's outcome is told and shown
(:mod:`sentinelgw.sandbox.service_demo` has the moves)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sentinelgw.sandbox.core import Sandbox
from sentinelgw.sandbox.provision import SOURCE_PROFILE
from sentinelgw.sandbox.walk import TABLE as TABLE  # the moves' table
from sentinelgw.sandbox.walk import (
    WIDTH,
    aws_command,
    command_lines,
    record_status,
    sentinel_command,
    session_record,
)

PRINT_SESSION = 'import os; print(os.environ["AWS_SENTINEL_SESSION_ID"])'
# Prints the session id, then holds the session open until its stdin closes.
HOLD_SESSION = (
    'import os, sys; print(os.environ["AWS_SENTINEL_SESSION_ID"], flush=True); sys.stdin.read()'
)


class Unclear(Exception):
    """A command the move depends on failed: the move neither worked nor was stopped."""


@dataclass(frozen=True)
class MoveResult:
    title: str
    local: bool  # the move reached its aim in local mode
    service: bool  # ... against the service
    unclear: frozenset[str] = frozenset()  # "local" / "service": the move could not tell

    @property
    def passed(self) -> bool:
        return not self.service and "service" not in self.unclear

    def outcome(self, side: str) -> str:
        if side in self.unclear:
            return "UNCLEAR"
        return "WORKS" if getattr(self, side) else "FAILS"


def decisive_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The line that says what happened: a failure's error line (a raw XML body reduced to its
    error code), else what a JSON answer says (the item's status, the ARN), else the first
    line of output."""
    out = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode != 0:
        words = ("error", "denied", "refused", "blocked", "not authorized")
        line = next((ln for ln in err if any(w in ln.lower() for w in words)), "")
        line = line or (err or out or [""])[-1]
        if "<" in line:  # the AWS CLI quoting a service's XML body: only its code is shown
            code = re.search(r"<Code>([A-Za-z0-9.]+)</Code>", proc.stderr)
            line = line.split("<", 1)[0].rstrip(": ") + (f": {code.group(1)}" if code else "")
        return line.strip()
    if "SecretAccessKey" in proc.stdout or "SessionToken" in proc.stdout:
        return "(credentials, not shown)"
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return (out or err or [""])[0].strip()
    return _json_gist(doc)


def _json_gist(doc: object) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("Item"), dict):
        status = doc["Item"].get("status", {})
        return f"the record exists, status {status.get('S') if isinstance(status, dict) else '-'}"
    if isinstance(doc, dict) and "Arn" in doc:
        return str(doc["Arn"])
    return json.dumps(doc, separators=(",", ":"))


def result_lines(proc: subprocess.CompletedProcess[str], width: int = WIDTH) -> list[str]:
    """``exit N: <decisive line>``, wrapped between words to ``width`` (nothing cut)."""
    text = f"exit {proc.returncode}: {decisive_line(proc) or '(no output)'}"
    return textwrap.wrap(
        text,
        width,
        initial_indent="    ",
        subsequent_indent="      ",
        break_long_words=True,  # only a word longer than a line (a deep path) is split
        break_on_hyphens=False,
    )


class _Side:
    """One sandbox and the commands a user runs against it."""

    def __init__(self, sb: Sandbox, remote: bool, echo: Callable[[str], None]) -> None:
        self.sb, self.remote, self.echo = sb, remote, echo
        home = sb.root / "home"
        home.mkdir(exist_ok=True, mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
        env.update(sb.env(), HOME=str(home), PYTHONUNBUFFERED="1")
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.env = env
        self.sentinel = sentinel_command()
        self.aws = aws_command() or ["aws"]

    def run(
        self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        for line in command_lines(self.shown(argv)):
            self.echo(line)
        proc = subprocess.run(
            argv,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=cwd or self.sb.root,
        )
        for line in result_lines(proc):
            self.echo(line)
        return proc

    def shown(self, argv: list[str]) -> list[str]:
        """``argv`` as a user would type it: the commands by name, not by path."""
        names = {self.sentinel[0]: "sentinel", self.aws[0]: "aws", sys.executable: "python"}
        return [names.get(a, a) for a in argv]

    def sentinel_run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run([*self.sentinel, *args], env)

    def aws_run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run([*self.aws, *args], env)

    def exec_args(self, *args: str) -> list[str]:
        """``exec`` in this side's mode: local server mode, or through the service."""
        return ["exec", *([] if self.remote else ["--server"]), *args]

    def admin(self) -> list[str]:
        """The security team's AWS CLI profile (everyone may write the table in local mode)."""
        return ["--profile", "security"] if self.remote else []

    def session(self, *extra: str, env: dict[str, str] | None = None) -> str | None:
        proc = self.sentinel_run(
            *self.exec_args(*extra, "--profile", "prod", "--", sys.executable, "-c", PRINT_SESSION),
            env=env,
        )
        return proc.stdout.strip() or None if proc.returncode == 0 else None

    def record(self, session_id: str, table: str = TABLE) -> dict[str, object] | None:
        """The session's item, as the security team (alice herself in local mode) reads it: a
        check the demo makes in its own process, shown as a line, not as a command."""
        from botocore.exceptions import BotoCoreError, ClientError

        who, profile = ("security", "security") if self.remote else ("alice", SOURCE_PROFILE)
        try:
            item = session_record(self.env, session_id, profile, table)
        except (BotoCoreError, ClientError):
            raise Unclear("the session table could not be read") from None
        if item is None:
            self.echo(f"    the table, read as {who}: no record with that id")
            return None
        self.echo(f"    the table, read as {who}: the record exists, status {record_status(item)}")
        return item

    def live_session(self) -> tuple[subprocess.Popen[str], str]:
        """A prod session whose child stays alive until its stdin closes, and its id."""
        argv = [
            *self.sentinel,
            *self.exec_args("--profile", "prod", "--", sys.executable, "-c", HOLD_SESSION),
        ]
        for line in command_lines(self.shown(argv)):
            self.echo(line)
        self.echo("    (left running: its child holds the session open)")
        child = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        session_id = child.stdout.readline().strip()
        if not session_id:
            end(child)
            raise Unclear("the session to revoke did not start")
        self.echo(f"    a live session: {session_id}")
        return child, session_id


def end(child: subprocess.Popen[str]) -> None:
    """Close a held session's stdin, so its child exits; kill it if it does not."""
    try:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        child.kill()
        child.wait(timeout=10)


# -- the moves: each returns True when it reached its aim ----------------------------------
