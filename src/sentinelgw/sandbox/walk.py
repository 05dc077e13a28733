"""What the demo's walkthroughs share: commands shown within the demo's width (``$ ...``), the
installed ``sentinel`` and ``aws`` to run, running ``sentinel`` as alice or security, and
numbered, checked steps."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The profile both walkthroughs use (require_approval, break-glass allowed for alice).
PROFILE = "prod-approve"
# Fetches credentials afresh every second until refused, stays up 3 s more (so the service's
# sweep revokes the session while it runs), then prints what it saw.
UNTIL_REFUSED = r"""
import json, os, time, urllib.error, urllib.request
seen = []
for _ in range(60):
    req = urllib.request.Request(
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=30):
            seen.append("ok")
    except urllib.error.HTTPError as exc:
        seen.append(json.loads(exc.read()).get("Code"))
        time.sleep(3)
        break
    time.sleep(1)
print(json.dumps({"session": os.environ.get("AWS_SENTINEL_SESSION_ID"), "seen": seen}))
"""

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
