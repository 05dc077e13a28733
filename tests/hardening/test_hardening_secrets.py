"""Secrets never leak: every command, with ``--debug --log-file F --log-stderr``, success and
failure paths, and then a grep of everything the run printed or wrote for the credentials it
issued, the container token and the sandbox user's own secret key.

The only places a secret may be are the ones that exist to hold it: the stdout of
``sentinel credentials`` (the credential_process contract) and the credentials cache, which
must be 0600 in a 0700 folder. The secrets are learnt through a capture folder outside every
grepped place: the children write what they received there (holder.py).
"""

from __future__ import annotations

import configparser
import json
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hardeninghelpers import HOLDER, PY, live_session
from tests.conftest import run_cli

ENV_DUMP = (
    "import json, os, sys; e = os.environ; "
    "open(sys.argv[1], 'w').write(json.dumps({k: e.get(k) for k in "
    "('AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}))"
)


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


class Runner:
    """Runs ``sentinel --debug --log-file F --log-stderr ARGS`` and keeps every output."""

    def __init__(self, env: dict[str, str], log_file: Path) -> None:
        self.env = env
        self.log_file = log_file
        self.runs: list[Ran] = []

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--debug", "--log-file", str(self.log_file), "--log-stderr")

    def __call__(
        self, *args: str, expect: int | tuple[int, ...] | None = 0, input: str | None = None
    ) -> Ran:
        # In this process unless the command needs its own (exec, credentials: real runs).
        out = run_cli([*self.flags, *args], self.env, input=input, timeout=180)
        ran = Ran(args, out.returncode, out.stdout, out.stderr)
        self.runs.append(ran)
        if expect is not None:
            allowed = expect if isinstance(expect, tuple) else (expect,)
            assert ran.code in allowed, (args, ran.code, ran.stderr[-2000:])
        return ran


def captured(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sandbox_user_secret(sandbox: Any) -> str:
    cfg = configparser.ConfigParser()
    cfg.read(sandbox.credentials_file)
    return cfg["default"]["aws_secret_access_key"]


def needles_in(secrets: set[str]) -> set[str]:
    """Each secret, and a 24-character slice from its middle (a truncated leak counts too)."""
    out = set()
    for s in secrets:
        out.add(s)
        mid = len(s) // 2
        out.add(s[mid - 12 : mid + 12])
    return out


@pytest.fixture
def leak_env(sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    return {**sandbox_env, "TMPDIR": str(tmpdir)}


@pytest.mark.slow  # runs every command and format once (about 40 sentinel processes)
def test_no_command_leaks_a_secret(
    sandbox: Any, leak_env: dict[str, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    capture = tmp_path_factory.mktemp("capture")  # outside every grepped folder
    home = Path(leak_env["HOME"])
    log_file = tmp_path / "logs" / "decisions.jsonl"
    log_file.parent.mkdir()
    run = Runner(leak_env, log_file)
    secrets: set[str] = {sandbox_user_secret(sandbox)}
    policy_ok = tmp_path / "policy.yaml"
    policy_ok.write_text("policies:\n  - name: dev\n    match: {profile: dev}\n    effect: allow\n")
    policy_bad = tmp_path / "bad.yaml"
    policy_bad.write_text("policies:\n  - effect: sometimes\n")

    # credential_process: cold without cache, cold with cache, warm; then the failure paths.
    for args in (("--no-cache",), (), ()):
        doc = json.loads(run("credentials", "--profile", "dev", *args).stdout)
        secrets |= {doc["SecretAccessKey"], doc["SessionToken"]}
    run("credentials", "--profile", "prod", expect=1)
    run("credentials", "--profile", "nosuch", expect=2)

    # exec in CLI mode: the child reports what it was given.
    dump = capture / "cli-env.json"
    run("exec", "--profile", "dev", "--", PY, "-c", ENV_DUMP, str(dump))
    secrets |= set(json.loads(dump.read_text()).values())
    run("exec", "--profile", "prod", "--", PY, "-c", "print('never')", expect=1)
    run("exec", "--profile", "nosuch", "--", PY, "-c", "print('never')", expect=2)

    # exec --server: token in a file and in a variable; the child fetches twice.
    served = []
    for name, extra in (
        ("file", ("--profile", "prod")),
        ("env", ("--token-mode", "env", "--profile", "dev")),
    ):
        cap = capture / f"server-{name}.jsonl"
        ran = run("exec", "--server", *extra, "--", PY, HOLDER, str(cap), input="fetch\nfetch\n")
        served.append((name, ran, captured(cap)))
    for name, _ran, entries in served:
        hello = entries[0]["hello"]
        bodies = [e["body"] for e in entries[1:]]
        assert len(bodies) == 2 and all("SecretAccessKey" in b for b in bodies), entries
        secrets.add(hello["token"])
        secrets |= {b["SecretAccessKey"] for b in bodies} | {b["Token"] for b in bodies}
        if name == "file":
            assert hello["token_file_mode"] == 0o600
    prod_session = json.loads(served[0][1].stdout.splitlines()[0])["session"]

    # A live session revoked mid-run, with every flag on both sides.
    cap = capture / "revoked.jsonl"
    with live_session(leak_env, "--profile", "prod", capture=cap, sentinel_args=run.flags) as live:
        assert live.fetch()["status"] == 200
        run("server-revoke", live.session, "--reason", "leak test")
        time.sleep(1.0)  # documented: a request 1 s after the revoke returned is refused
        assert live.fetch()["status"] == 403
        code, stderr = live.finish()
        run.runs.append(Ran(("live",), code, "", stderr))
    secrets.add(live.token)
    secrets |= {e["body"].get("SecretAccessKey", "") for e in captured(cap) if "body" in e}

    # Everything else, each format, plus failure paths.
    run("policy", "validate", str(policy_ok))
    run("policy", "validate", str(policy_bad), expect=2)
    run("policy", "explain", "--profile", "prod", "--mode", "server", expect=(0, 1))
    run("policy", "explain", "--profile", "prod", "--mode", "cli", expect=(0, 1))
    for fmt in ("human", "json"):
        run("config", "show", "--format", fmt)
    run("init", "sessions", "--plan")
    for fmt in ("human", "json", "csv"):
        run("server-sessions", "--format", fmt)
    for fmt in ("human", "json"):
        run("server-session", prod_session, "--format", fmt)
    run("server-session", "0123456789abcdef", expect=2)
    # Ended, but the credentials it served are still valid: hard-revoked; then a failure path.
    run("server-revoke", prod_session, "--reason", "ended early", expect=0)
    run("server-revoke", prod_session, "--reason", "already revoked", expect=2)
    for fmt in ("human", "json"):
        run("audit", "untracked-sessions", "--since", "1h", "--format", fmt, expect=(0, 1))
    for fmt in ("human", "json", "csv"):
        run("audit", "session-compliance", "--since", "1h", "--format", fmt, expect=(0, 1))
    run("audit", "session-compliance", "--since", "yesterday-ish", expect=2)

    secrets.discard("")
    assert len(secrets) >= 12 and all(len(s) >= 30 for s in secrets), sorted(map(len, secrets))
    needles = needles_in(secrets)

    # Where output may legitimately hold secrets: credential_process stdout only.
    texts: dict[str, str] = {}
    for n, r in enumerate(run.runs):
        texts[f"stderr of {r.args}"] = r.stderr
        if r.args[0] != "credentials":
            texts[f"stdout of {r.args} #{n}"] = r.stdout
    cache_dir = home / ".sentinel" / "cache"
    cache_files = sorted(cache_dir.glob("*.json"))
    assert cache_files, "the cached credentials file was not written"
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    for f in cache_files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    for root in (home, Path(leak_env["TMPDIR"]), tmp_path):
        for path in root.rglob("*"):
            if path.is_file() and path not in cache_files:
                texts[str(path)] = path.read_text(errors="replace")

    # The log was really written, by every kind of command, and is private.
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {line.get("mode") for line in lines} >= {"cli", "server", "credential_process"}
    assert any(line.get("allowed") is False for line in lines)
    assert any('"allowed":' in r.stderr for r in run.runs)  # --log-stderr too

    leaks = [
        (where, needle[:6] + "…")
        for where, text in texts.items()
        for needle in needles
        if needle in text
    ]
    assert leaks == [], leaks
    assert not list(Path(leak_env["TMPDIR"]).glob("sentinel-*")), "server workdir left behind"
    # The scan can find what it looks for: the needles do occur where secrets belong.
    credential_stdout = [r.stdout for r in run.runs if r.args[0] == "credentials"]
    assert any(needle in out for out in credential_stdout for needle in needles)
