"""The commands aws-vault users expect: list, export, login and completion, on the sandbox."""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from uxhelpers import one_error_line, ux_env


@pytest.fixture
def env(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return ux_env(sandbox, sandbox_env, tmp_path)


def _run(run_sentinel: Any, env: dict[str, str], *args: str) -> Any:
    return run_sentinel([*args, "--policy", env["UX_POLICY"]], env=env)


# --- list -------------------------------------------------------------------------------


def test_list_kinds_rules_and_cache(run_sentinel: Any, env: dict[str, str]) -> None:
    before = json.loads(_run(run_sentinel, env, "list", "--format", "json").stdout)
    rows = {r["profile"]: r for r in before}
    assert rows["dev"]["kind"] == "role" and rows["sso-admin"]["kind"] == "sso"
    assert rows["dev"]["modes"]["cli"] == {
        "allowed": True,
        "rule": "dev-anything",
        "rule_number": 2,
    }
    prod = rows["prod"]["modes"]
    assert prod["server"]["allowed"] and not prod["cli"]["allowed"]
    assert not prod["console"]["allowed"] and prod["console"]["rule"] == "prod-tracked"
    assert rows["sso-admin"]["modes"]["cli"]["rule"] is None
    assert not rows["dev"]["cached"]
    issued = _run(run_sentinel, env, "credentials", "--profile", "dev")
    assert issued.returncode == 0, issued.stderr
    after = {
        r["profile"]: r
        for r in json.loads(_run(run_sentinel, env, "list", "--format", "json").stdout)
    }
    assert after["dev"]["cached"] and not after["dev-eu"]["cached"]
    human = _run(run_sentinel, env, "list")
    assert human.returncode == 0, human.stderr
    dev_line = next(ln for ln in human.stdout.splitlines() if ln.startswith("dev "))
    assert dev_line.split()[2:4] == ["allow", "#2"] and dev_line.split()[-1] == "yes"
    assert "#2 dev-anything" in human.stdout.splitlines()[-1]  # the legend names the rules


# --- export -----------------------------------------------------------------------------


def test_export_formats(run_sentinel: Any, env: dict[str, str]) -> None:
    doc = json.loads(
        _run(run_sentinel, env, "export", "--profile", "dev", "--format", "json").stdout
    )
    assert doc["Version"] == 1 and doc["SessionToken"] and doc["Expiration"].endswith("Z")
    process = json.loads(
        _run(
            run_sentinel, env, "export", "--profile", "dev", "--format", "credential-process"
        ).stdout
    )
    assert process == doc  # the cache answers the second call with the same credentials
    lines = _run(run_sentinel, env, "export", "--profile", "dev-eu").stdout.splitlines()
    exported = dict(shlex.split(ln)[1].split("=", 1) for ln in lines)
    assert set(exported) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }
    assert exported["AWS_REGION"] == "eu-central-1"
    check = subprocess.run(
        [
            "sh",
            "-c",
            'eval "$1"; aws sts get-caller-identity --output json',
            "sh",
            "\n".join(lines),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "assumed-role/sentinel-dev/" in json.loads(check.stdout)["Arn"]
    ini = _run(run_sentinel, env, "export", "--profile", "dev-eu", "--format", "ini").stdout
    assert ini.splitlines()[0] == "[dev-eu]"
    assert f"aws_access_key_id = {exported['AWS_ACCESS_KEY_ID']}" in ini
    assert "region = eu-central-1" in ini


def test_export_is_gated_like_credentials(run_sentinel: Any, env: dict[str, str]) -> None:
    exported = _run(run_sentinel, env, "export", "--profile", "prod")
    credentials = _run(run_sentinel, env, "credentials", "--profile", "prod")
    assert exported.returncode == credentials.returncode == 1
    assert exported.stdout == "" and "AWS_" not in exported.stderr
    assert one_error_line(exported.stderr) == one_error_line(credentials.stderr)


# --- login ------------------------------------------------------------------------------


class _Federation(BaseHTTPRequestHandler):
    seen: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        type(self).seen.append(query)
        body = json.dumps({"SigninToken": "token-from-stand-in"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def federation() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """A loopback stand-in for the federation endpoint (the real one is not reachable here)."""
    _Federation.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Federation)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/federation", _Federation.seen
    finally:
        server.shutdown()
        server.server_close()


def test_login_prints_a_signin_url(run_sentinel: Any, env: dict[str, str], federation: Any) -> None:
    endpoint, seen = federation
    proc = run_sentinel(
        ["login", "--profile", "dev-eu", "--policy", env["UX_POLICY"]],
        env=dict(env, SENTINEL_FEDERATION_ENDPOINT=endpoint),
    )
    assert proc.returncode == 0, proc.stderr
    url = urllib.parse.urlsplit(proc.stdout.strip())
    query = urllib.parse.parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == endpoint
    assert query["Action"] == ["login"] and query["SigninToken"] == ["token-from-stand-in"]
    assert query["Destination"] == [
        "https://console.aws.amazon.com/console/home?region=eu-central-1"
    ]
    assert len(seen) == 1 and seen[0]["Action"] == ["getSigninToken"]
    session = json.loads(seen[0]["Session"][0])
    assert session["sessionId"].startswith("ASIA") or session["sessionId"]
    assert session["sessionToken"]
    assert session["sessionKey"] not in proc.stdout + proc.stderr


def test_login_is_refused_for_tracked_profiles(
    run_sentinel: Any, env: dict[str, str], federation: Any
) -> None:
    endpoint, seen = federation
    proc = run_sentinel(
        ["login", "--profile", "prod", "--policy", env["UX_POLICY"]],
        env=dict(env, SENTINEL_FEDERATION_ENDPOINT=endpoint),
    )
    assert proc.returncode == 1
    assert "console sign-in cannot be tracked" in one_error_line(proc.stderr)
    assert seen == []


def test_login_mode_console_in_the_policy(
    run_sentinel: Any, env: dict[str, str], federation: Any, tmp_path: Path
) -> None:
    endpoint, seen = federation
    policy = tmp_path / "console.yaml"
    policy.write_text(
        "policies:\n  - name: dev-no-console\n    match: {profile: dev, "
        "mode: console}\n    effect: deny\n  - name: dev\n    match: {profile: dev}"
        "\n    effect: allow\n"
    )
    denied = run_sentinel(
        ["login", "--profile", "dev", "--policy", str(policy)],
        env=dict(env, SENTINEL_FEDERATION_ENDPOINT=endpoint),
    )
    assert denied.returncode == 1 and "dev-no-console" in denied.stderr
    allowed = run_sentinel(["exec", "--policy", str(policy), "dev", "--", "true"], env=env)
    assert allowed.returncode == 0, allowed.stderr
    explained = run_sentinel(
        ["policy", "explain", "--policy", str(policy), "--profile", "dev", "--mode", "console"],
        env=env,
    )
    assert explained.returncode == 1 and "dev-no-console" in explained.stdout
    assert seen == []


def test_login_unreachable_endpoint_is_one_line(run_sentinel: Any, env: dict[str, str]) -> None:
    proc = run_sentinel(
        ["login", "--profile", "dev", "--policy", env["UX_POLICY"]],
        env=dict(env, SENTINEL_FEDERATION_ENDPOINT="http://127.0.0.1:9/x"),
    )
    assert proc.returncode == 2
    assert "cannot reach the federation endpoint 127.0.0.1:9" in one_error_line(proc.stderr)


# --- completion -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(run_sentinel: Any, env: dict[str, str], shell: str) -> None:
    proc = run_sentinel(["completion", shell], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "_SENTINEL_COMPLETE" in proc.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("sentinel exec de", 2, {"default", "dev", "dev-eu", "dev-mfa"}),
        ("sentinel export --profile prod", 3, {"prod", "prod-sso"}),
        ("sentinel ex", 1, {"exec", "export"}),
        ("sentinel exec dev ", 3, set()),
    ],
)
def test_completion_completes_profiles(
    env: dict[str, str], words: str, cword: int, expected: set[str]
) -> None:
    from tests.conftest import sentinel_command

    proc = subprocess.run(
        sentinel_command(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(env, COMP_WORDS=words, COMP_CWORD=str(cword), _SENTINEL_COMPLETE="bash_complete"),
    )
    assert proc.returncode == 0, proc.stderr
    got = {line.split(",", 1)[1] for line in proc.stdout.splitlines() if line}
    assert got == expected


def test_login_open_hands_the_url_to_the_browser(
    run_sentinel: Any, env: dict[str, str], federation: Any, tmp_path: Path
) -> None:
    endpoint, seen = federation
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)
    proc = run_sentinel(
        ["login", "--open", "--profile", "dev", "--policy", env["UX_POLICY"]],
        env=dict(env, SENTINEL_FEDERATION_ENDPOINT=endpoint, BROWSER=str(browser)),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the URL went to the browser, not to the screen
    url = urllib.parse.urlsplit(opened.read_text())
    assert urllib.parse.parse_qs(url.query)["SigninToken"] == ["token-from-stand-in"]
    assert len(seen) == 1
