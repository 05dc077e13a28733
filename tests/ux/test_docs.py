"""The docs match behaviour: every ``sentinel`` command in a fenced console/sh block of
README.md and docs/*.md runs against the sandbox, and docs/architecture.md names every module.

A command may only be skipped when it needs a real AWS account or a terminal; SKIPPED says
why, and the test fails if a skipped command is no longer in the docs (so the list cannot
rot). Third-party tools the examples run (terraform, node) are stand-ins that exit 0.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from uxhelpers import sandbox_client

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_LANGS = ("console", "sh", "bash", "shell")
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*")
SESSION_ID = re.compile(r"\b[0-9a-f]{16}\b")
STAND_INS = ("terraform", "node")

# command (as written in the docs) -> why it cannot run here
SKIPPED = {
    "sentinel --aws-profile corp-admin exec --server --profile prod-sso -- terraform plan": (
        "needs an IAM Identity Center login (aws sso login) for a real account; the sandbox "
        "equivalent, --aws-profile sso-admin, is run by tests/exec"
    ),
    "sentinel audit untracked-sessions --since 1d --source athena:security.org_trail "
    "--athena-workgroup sentinel-audit --athena-output s3://athena-results/sentinel/": (
        "needs a real Athena workgroup over a real organisation trail (moto's Athena has no "
        "workgroup 'sentinel-audit' and computes no results); the same flow runs against "
        "moto's Athena and a loopback stand-in in tests/audit/test_athena_api.py"
    ),
    "sentinel --aws-profile admin init tvm --plan": (
        "the admin profile exists on the enforced sandbox ('sentinel dev' with its service); "
        "tests/service/deploy/test_deploy_sandbox.py runs it there"
    ),
    "sentinel --aws-profile admin init tvm --yes": (
        "the admin profile exists on the enforced sandbox; "
        "tests/service/deploy/test_deploy_sandbox.py runs it there"
    ),
    "sentinel --aws-profile admin tvm check": (
        "the admin profile exists on the enforced sandbox; "
        "tests/service/deploy/test_deploy_sandbox.py runs it there"
    ),
    "sentinel demo": (
        "starts its own sandbox and runs the whole walkthrough (a minute); run by "
        "tests/sandbox/test_demo.py"
    ),
}


@dataclass(frozen=True)
class DocCommand:
    where: str
    text: str  # the command as written, continuation lines joined, comment removed
    comment: str


def doc_commands() -> list[DocCommand]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) not in SHELL_LANGS:
                continue
            line_no = text[: match.start()].count("\n") + 2
            found += _commands(match.group(1), match.group(2), f"{path.name}:{line_no}")
    return found


def _commands(lang: str, block: str, where: str) -> list[DocCommand]:
    out = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if lang == "console" and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        body = ENV_PREFIX.sub("", line)
        if not words or not body.startswith("sentinel "):
            continue
        command, _, comment = line.partition(" #")
        out.append(DocCommand(where, " ".join(command.split()), comment.strip()))
    return out


def test_docs_have_sentinel_commands() -> None:
    commands = doc_commands()
    assert len(commands) >= 30
    assert any(c.text.startswith("sentinel exec --server") for c in commands)


def test_skipped_commands_are_still_in_the_docs() -> None:
    texts = {c.text for c in doc_commands()}
    for command, reason in SKIPPED.items():
        assert command in texts, f"{command!r} is no longer in the docs; drop it from SKIPPED"
        assert reason
    # The test named as running the demo instead still does.
    demo_test = (ROOT / "tests" / "sandbox" / "test_demo.py").read_text(encoding="utf-8")
    assert '"demo"' in demo_test and "PASS" in demo_test


def test_architecture_lists_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "src" / "sentinelgw"
    missing = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if path.name != "__init__.py" or path.parent.name == "exec"
        if f"`{path.relative_to(package).as_posix()}`" not in text
    ]
    assert not missing, f"docs/architecture.md does not list: {', '.join(missing)}"


# --- running them -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_client(sandbox: Any) -> Any:
    """One DynamoDB client for the seeding of every test here (a new client per test would
    load the service model again each time)."""
    return sandbox_client(sandbox, "dynamodb")


@pytest.fixture
def doc_env(
    sandbox: Any, sandbox_env: dict[str, str], seed_client: Any, tmp_path: Path
) -> dict[str, str]:
    """The sandbox environment a reader has after eval "$(sentinel dev)", with stand-ins for
    third-party tools on PATH and the session ids the docs use present in the table."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in STAND_INS:
        stub = bin_dir / tool
        stub.write_text(f"#!/bin/sh\necho '{tool} stand-in' \"$@\"\n")
        stub.chmod(0o755)
    env = dict(sandbox_env, PATH=f"{bin_dir}:{sandbox_env['PATH']}")
    ids = {i for c in doc_commands() for i in SESSION_ID.findall(c.text)}
    _seed_sessions(sandbox, seed_client, sorted(ids))
    return env


def _seed_sessions(sandbox: Any, ddb: Any, ids: list[str]) -> None:
    from datetime import timedelta

    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.timeutil import utcnow

    now = utcnow()
    for sid in ids:
        rec = SessionRecord.new(
            id=sid,
            user="alice",
            profile="prod",
            role_arn=sandbox.role_arns["prod"],
            started_at=now,
            expires_at=now + timedelta(hours=1),
            server_instance_id="docs",
            source_identity=f"sentinel.alice.{sid}",
            host="docs",
        )
        ddb.put_item(TableName=sandbox.table, Item=rec.to_item())  # active again on a rerun


def _run_dev(words: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """``sentinel dev``: start it, wait for its export lines, stop it with SIGINT."""
    from tests.conftest import sentinel_command

    argv = []
    for word in words[1:]:
        if word in (">", "&", "|") or word.startswith(">"):
            break
        argv.append(word.replace("/tmp/", f"{tmp_path}/"))
    proc = subprocess.Popen(
        [*sentinel_command(), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("export AWS_ENDPOINT_URL="), first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def _expected_codes(command: DocCommand) -> set[int]:
    if "denied" in command.comment or "exit 1" in command.comment:
        return {0, 1} if "when" in command.comment else {1}
    if command.text.startswith(("sentinel audit", "sentinel policy explain")):
        return {0, 1}  # 1 reports a gap or a denial
    if command.text.startswith("sentinel exec --profile prod"):
        return {1}  # the README's and sandbox.md's denied example
    return {0}


RUNNABLE = [c for c in doc_commands() if c.text not in SKIPPED]
# A service's raw answer (XML, an HTML page) never reaches the terminal (issue 24).
RAW_BODY_MARKERS = ("<?xml", "<!doctype", "<html")


SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?]")
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def _in_process(text: str) -> tuple[dict[str, str], list[str], str | None] | None:
    """A plain command (``VAR=value`` prefixes, words, at most ``> file`` at the end):
    (variables, sentinel's arguments, output file); None when it needs a shell."""
    command, redirect, target = text.partition(" > ")
    if SHELL_SYNTAX.search(command) or (redirect and SHELL_SYNTAX.search(target)):
        return None
    words = shlex.split(command)
    assigned = {}
    while words and (match := ASSIGNMENT.match(words[0])):
        assigned[match.group(1)] = match.group(2)
        words = words[1:]
    if words[:1] != ["sentinel"] or (redirect and len(shlex.split(target)) != 1):
        return None
    return assigned, words[1:], shlex.split(target)[0] if redirect else None


@pytest.mark.parametrize("command", RUNNABLE, ids=[f"{c.where} {c.text}"[:90] for c in RUNNABLE])
def test_doc_command_runs(
    command: DocCommand, doc_env: dict[str, str], tmp_path: Path, sandbox: Any
) -> None:
    from tests.conftest import run_cli

    words = shlex.split(command.text)
    line = command.text.replace("/tmp/", f"{tmp_path}/")
    plain = _in_process(line)
    if words[:2] == ["sentinel", "dev"]:
        code, err = _run_dev(words, doc_env, tmp_path)
    elif plain is not None:
        # As the shell would run it: sentinel (in this process unless it needs its own, see
        # tests/conftest.py run_cli) with the line's variables, stdin empty, stdout to the file.
        assigned, argv, output = plain
        done = run_cli(argv, {**doc_env, **assigned}, cwd=tmp_path, timeout=120)
        if output is not None:
            (tmp_path / output).write_text(done.stdout, encoding="utf-8")
        code, err = done.returncode, done.stderr
    else:
        bin_dir = Path(sys.executable).parent
        proc = subprocess.run(
            ["sh", "-c", line],
            env=dict(doc_env, PATH=f"{bin_dir}:{doc_env['PATH']}"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        code, err = proc.returncode, proc.stderr
    assert "Traceback" not in err, err
    raw = [m for m in RAW_BODY_MARKERS if m in err.lower()]
    assert not raw, f"{command.where}: a raw service body on the terminal: {err}"
    assert code in _expected_codes(command), f"{command.where}: exit {code}: {err}"
