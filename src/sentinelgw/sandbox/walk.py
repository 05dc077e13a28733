"""What the demo's walkthroughs share: commands shown within the demo's width (``$ ...``), the
installed ``sentinel`` and ``aws`` to run, running ``sentinel`` as alice or security, and
numbered, checked steps."""

from __future__ import annotations

import configparser
import functools
import json
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sentinelgw.session_table import DEFAULT_SESSION_TABLE

# The profile both walkthroughs use (require_approval, break-glass allowed for alice).
PROFILE = "prod-approve"
TABLE = DEFAULT_SESSION_TABLE  # the sandbox's session table
# Fetches credentials afresh every second until refused (a line "ok" for each fetch that
# worked), prints what it saw, then stays up until its stdin closes: the demo closes it once the
# session's record reads revoked, so the service revokes a session that is still running.
UNTIL_REFUSED = r"""
import json, os, sys, time, urllib.error, urllib.request
seen = []
for _ in range(60):
    req = urllib.request.Request(
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=30):
            seen.append("ok")
            print("ok", flush=True)
    except urllib.error.HTTPError as exc:
        seen.append(json.loads(exc.read()).get("Code"))
        break
    time.sleep(1)
print(json.dumps({"session": os.environ.get("AWS_SENTINEL_SESSION_ID"), "seen": seen}), flush=True)
sys.stdin.read()
"""
# How long the demo waits for a record to read revoked (the sandbox service sweeps every second).
REVOKED_WAIT = 20.0

Step = tuple[str, Callable[[], str]]


WIDTH = 100  # no line of the demo is wider


def command_lines(words: list[str], width: int = WIDTH, prefix: str = "  $ ") -> list[str]:
    """``$ command`` in lines of at most ``width`` columns, broken between words (a word is
    never cut; one longer than a line stays whole), continued with a backslash."""
    first, cont = prefix, " " * (len(prefix) + 2)
    lines: list[str] = []
    current = first
    for word in (shlex.quote(w) for w in words):
        if current in (first, cont):
            current += word
        elif len(current) + 1 + len(word) + 2 > width:
            lines.append(current + " \\")
            current = cont + word
        else:
            current += " " + word
    lines.append(current)
    return lines


def sentinel_command() -> list[str]:
    script = Path(sys.executable).parent / "sentinel"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sentinelgw.cli.main"]


def aws_command() -> list[str] | None:
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    return [found] if found else None


def session_record(
    env: Mapping[str, str], session_id: str, profile: str = "security", table: str = TABLE
) -> dict[str, Any] | None:
    """The session's item in the sandbox's session table (None: no such item), read in the
    demo's own process with ``profile``'s keys from the sandbox's credentials file: a check the
    demo makes, not a command a user runs, so it starts no process. A consistent read."""
    client = _dynamodb(
        env["AWS_SHARED_CREDENTIALS_FILE"], env["AWS_ENDPOINT_URL"], env["AWS_REGION"], profile
    )
    item = client.get_item(TableName=table, Key={"id": {"S": session_id}}, ConsistentRead=True).get(
        "Item"
    )
    return item if isinstance(item, dict) else None


def record_status(item: Mapping[str, Any] | None) -> str | None:
    """The raw ``status`` of a session item (``active``, ``ended``, ``revoked``), or None."""
    field = (item or {}).get("status")
    return str(field.get("S")) if isinstance(field, dict) else None


def record_field(item: Mapping[str, Any] | None, name: str) -> str | None:
    field = (item or {}).get(name)
    return str(field.get("S")) if isinstance(field, dict) and "S" in field else None


@functools.cache
def _dynamodb(credentials_file: str, endpoint_url: str, region: str, profile: str) -> Any:
    import boto3

    keys = configparser.RawConfigParser()
    keys.read(credentials_file, encoding="utf-8")
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,  # explicit: no AWS_ENDPOINT_URL_DYNAMODB of the user's
        region_name=region,
        aws_access_key_id=keys.get(profile, "aws_access_key_id"),
        aws_secret_access_key=keys.get(profile, "aws_secret_access_key"),
    )


class Failed(Exception):
    """A step's check did not hold; its message says what was seen."""


class Walk:
    def __init__(self, env: dict[str, str], sentinel: list[str], echo: Callable[[str], None]):
        self.env = env
        self.sentinel = sentinel
        self.echo = echo
        self.state: dict[str, Any] = {}

    def command(self, args: Sequence[str], security: bool) -> list[str]:
        who = ["--aws-profile", "security"] if security else []
        for line in command_lines(["sentinel", *who, *(shown(a) for a in args)]):
            self.echo(line)
        return [*self.sentinel, *who, *args]

    def run(
        self, *args: str, security: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args, security),
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def until_refused(
        self, args: Sequence[str], on_first_fetch: Callable[[], None] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Run ``sentinel <args> python -c UNTIL_REFUSED`` (``args`` end with ``--``); call
        ``on_first_fetch`` once its child got credentials; when it was refused, wait (at most
        REVOKED_WAIT) until its session's record reads revoked, then let it exit. Returns what
        the child saw (``session``, ``seen``) and the record last read."""
        proc = subprocess.Popen(
            self.command([*args, sys.executable, "-c", UNTIL_REFUSED], False),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.PIPE,
        )
        done: dict[str, Any] = {}
        item: dict[str, Any] | None = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "ok" and on_first_fetch is not None:
                    on_first_fetch()
                    on_first_fetch = None
                elif line.startswith("{"):
                    done = json.loads(line)
                    break
            session = str(done.get("session") or "")
            deadline = time.monotonic() + REVOKED_WAIT
            while session:
                item = session_record(self.env, session)
                if record_status(item) == "revoked" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            _, err = proc.communicate(input="", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not done:
            raise Failed(f"the child printed nothing: {err.strip()[:200]}")
        return done, item

    def steps(self, name: str, steps: Sequence[Step]) -> bool:
        """Each step in turn, ``[name n/N] PASS: ...``; the first failure ends the walk."""
        ok = True
        for n, (title, step) in enumerate(steps, 1):
            self.echo(f"[{name} {n}/{len(steps)}] {title}")
            try:
                say(self.echo, f"[{name} {n}/{len(steps)}] PASS: {step()}")
            except (Failed, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
                say(self.echo, f"[{name} {n}/{len(steps)}] FAIL: {exc}")
                ok = False
                break
        self.echo(
            f"{name} walkthrough passed" if ok else f"{name} walkthrough FAILED: see the step above"
        )
        return ok


def shown(word: str) -> str:
    """A word as the demo prints it: the interpreter by name, a program by what it does."""
    if word == sys.executable:
        return "python"
    if "\n" in word and "create_bucket" in word:
        return "<a program that calls S3 and STS>"
    if "\n" in word:
        return "<a program that fetches credentials every second until refused>"
    return word


def say(echo: Callable[[str], None], text: str) -> None:
    """``text`` wrapped between words to the demo's width (nothing cut)."""
    for line in textwrap.wrap(text, WIDTH, subsequent_indent="    ", break_on_hyphens=False):
        echo(line)
