"""What an aws-vault user reaches for in the first hour: options after the profile, every
``export`` format, ``--no-session``, ``whoami``, ``shell init``, the credential_process
snippet, and ``sentinel list`` with no policy."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from tests.conftest import run_cli

SHOW = "import os, sys; print(os.environ['AWS_CREDENTIAL_EXPIRATION'], sys.argv[1:])"


def sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS``, stdin empty (in this process unless the command needs its own)."""
    return run_cli(list(args), env)


def hours_left(expiration: str) -> float:
    end = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    return (end - datetime.now(end.tzinfo)).total_seconds() / 3600


def test_exec_options_after_the_profile_as_aws_vault_allows(sandbox_env) -> None:
    out = sentinel(
        sandbox_env, "exec", "dev", "--duration", "2h", "--no-cache", "--", "python", "-c", SHOW
    )
    assert out.returncode == 0, out.stderr
    expiration, argv = out.stdout.split(" ", 1)
    assert 1.5 < hours_left(expiration) <= 2.01
    assert argv.strip() == "[]"


def test_options_after_the_profile_without_dashes_and_the_commands_own_flags_kept(
    sandbox_env,
) -> None:
    out = sentinel(
        sandbox_env, "exec", "dev", "--no-cache", "python", "-c", SHOW, "--duration", "9h"
    )
    assert out.returncode == 0, out.stderr
    expiration, argv = out.stdout.split(" ", 1)
    assert hours_left(expiration) <= 1.01  # the child's --duration is the child's
    assert argv.strip() == "['--duration', '9h']"


def test_with_profile_option_the_commands_flags_after_its_first_word_stay_its_own(
    sandbox_env,
) -> None:
    out = sentinel(
        sandbox_env, "exec", "--profile", "dev", "python", "--region", "x", "-c", "print(1)"
    )
    # python gets --region (and refuses it): exec did not take the command's flag as its own
    assert out.returncode == 2 and "--region" in out.stderr and "sentinel:" not in out.stderr


def test_unknown_option_after_the_profile_is_a_usage_error(sandbox_env) -> None:
    out = sentinel(sandbox_env, "exec", "dev", "--durration", "2h", "--", "true")
    assert out.returncode == 2 and "--durration" in out.stderr


def export(env: dict[str, str], fmt: str, *extra: str) -> str:
    out = sentinel(env, "export", "--profile", "dev", "--format", fmt, *extra)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_export_in_every_format(sandbox_env) -> None:
    env_lines = export(sandbox_env, "env")
    shell = subprocess.run(
        ["sh", "-c", f'{env_lines}\nprintf "%s %s" "$AWS_ACCESS_KEY_ID" "$AWS_REGION"'],
        capture_output=True,
        text=True,
        check=True,
    )
    key_id, region = shell.stdout.split()
    assert key_id.startswith("ASIA") and region == "us-east-1"
    for fmt, pattern in [
        ("env-no-export", r"^AWS_[A-Z_]+=\S+$"),
        ("powershell", r"^\$Env:AWS_[A-Z_]+='[^']+'$"),
        ("windows-cmd", r'^set "AWS_[A-Z_]+=[A-Za-z0-9+/=:._-]+"$'),
    ]:
        lines = export(sandbox_env, fmt).splitlines()
        names = set(re.findall(r"AWS_[A-Z_]+", "\n".join(lines)))
        assert all(re.match(pattern, line) for line in lines), (fmt, lines)
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= names
        assert key_id in "\n".join(lines)  # the same cached session in every shape
    for fmt in ("json", "credential-process"):
        doc = json.loads(export(sandbox_env, fmt))
        assert doc["Version"] == 1 and doc["AccessKeyId"] == key_id
    ini = configparser.RawConfigParser()
    ini.read_string(export(sandbox_env, "ini"))
    assert ini["dev"]["aws_access_key_id"] == key_id


def test_export_windows_cmd_refuses_a_hostile_region(sandbox_env, sandbox, tmp_path) -> None:
    config = tmp_path / "config"
    hostile = (
        f"\n[profile dev-hostile]\nrole_arn = {sandbox.role_arns['dev']}\n"
        "source_profile = sentinel-source\nregion = x&calc\n"
    )
    config.write_text(Path(sandbox_env["AWS_CONFIG_FILE"]).read_text() + hostile)
    policy = tmp_path / "allow.yaml"
    policy.write_text("policies:\n  - name: all\n    match: {profile: '*'}\n    effect: allow\n")
    env = {k: v for k, v in sandbox_env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env["AWS_CONFIG_FILE"] = str(config)
    base = ["export", "--policy", str(policy), "--profile", "dev-hostile", "--no-cache"]
    out = sentinel(env, *base, "--format", "windows-cmd")
    assert out.returncode == 2 and "cannot be written safely for cmd.exe" in out.stderr
    assert "calc" not in out.stdout
    ps = sentinel(env, *base, "--format", "powershell")
    assert ps.returncode == 0 and "$Env:AWS_REGION='x&calc'" in ps.stdout


def test_export_no_session_hands_out_the_static_keys(sandbox_env, sandbox) -> None:
    parser = configparser.RawConfigParser()
    parser.read(sandbox.credentials_file)
    key = parser["sentinel-source"]["aws_access_key_id"]
    policy = Path(sandbox_env["HOME"]) / "allow.yaml"
    policy.write_text("policies:\n  - name: all\n    match: {profile: '*'}\n    effect: allow\n")
    base = ["export", "--policy", str(policy), "--profile", "sentinel-source", "--format", "json"]
    session = json.loads(sentinel(sandbox_env, *base, "--no-cache").stdout)
    assert session["AccessKeyId"] != key and session["SessionToken"]
    raw = json.loads(sentinel(sandbox_env, *base, "--no-session").stdout)
    assert raw["AccessKeyId"] == key and "SessionToken" not in raw


def test_whoami_shows_the_arn_and_the_policy_user(sandbox_env) -> None:
    human = sentinel(sandbox_env, "whoami")
    assert human.returncode == 0, human.stderr
    assert re.search(r"^arn +arn:aws:iam::\d{12}:user/alice$", human.stdout, re.M), human.stdout
    assert re.search(r"^user +alice ", human.stdout, re.M)
    doc = json.loads(sentinel(sandbox_env, "whoami", "--profile", "dev", "--format", "json").stdout)
    assert doc["user"] == "alice" and doc["arn"].endswith(":user/alice")
    assert doc["profile"] == "dev"


def test_shell_init_defines_functions_for_allowed_profiles_only(sandbox_env) -> None:
    out = sentinel(sandbox_env, "shell", "init", "bash")
    assert out.returncode == 0, out.stderr
    assert 'sentinel-dev() { sentinel exec dev -- "$@"; }' in out.stdout
    assert 'sentinel-prod() { sentinel exec --server prod -- "$@"; }' in out.stdout
    assert "sentinel-sentinel-source" not in out.stdout  # no rule: denied
    shell = subprocess.run(
        ["bash", "-c", f"{out.stdout}\nsentinel-dev aws sts get-caller-identity"],
        env=sandbox_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    assert ":assumed-role/sentinel-dev/sentinel.alice." in json.loads(shell.stdout)["Arn"]


def test_shell_init_skips_a_profile_name_the_shell_would_read_as_code(
    sandbox_env, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    hostile = "[profile x;touch${IFS}pwned]\nregion = us-east-1\n"
    config.write_text(Path(sandbox_env["AWS_CONFIG_FILE"]).read_text() + hostile)
    policy = tmp_path / "allow.yaml"
    policy.write_text("policies:\n  - name: all\n    match: {profile: '*'}\n    effect: allow\n")
    env = {**sandbox_env, "AWS_CONFIG_FILE": str(config)}
    out = sentinel(env, "shell", "init", "--policy", str(policy))
    assert out.returncode == 0, out.stderr
    assert "touch" not in out.stdout and "skipped a profile" in out.stdout


def test_credential_process_snippet_of_the_docs_works_with_the_aws_cli(
    sandbox_env, tmp_path: Path
) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    snippet = re.search(r"```ini\n(\[profile dev-via-sentinel\]\n.*?)```", docs, re.S)
    assert snippet, "configuration.md lost its credential_process snippet"
    config = tmp_path / "config"
    config.write_text(Path(sandbox_env["AWS_CONFIG_FILE"]).read_text() + "\n" + snippet.group(1))
    env = {**sandbox_env, "AWS_CONFIG_FILE": str(config)}
    out = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--profile", "dev-via-sentinel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert ":assumed-role/sentinel-dev/sentinel.alice." in json.loads(out.stdout)["Arn"]


@pytest.fixture
def no_policy_env(sandbox_env, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "sentinel.yaml"
    config.write_text("defaults:\n  region: us-east-1\n")
    return {**sandbox_env, "SENTINEL_CONFIG": str(config)}


def test_list_without_a_policy_lists_the_profiles(no_policy_env) -> None:
    out = sentinel(no_policy_env, "list")
    assert out.returncode == 0, out.stderr
    assert "no policy configured. Pass --policy FILE" in out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert ["dev", "role", "no", "policy", "no"] in rows
    doc = json.loads(sentinel(no_policy_env, "list", "--format", "json").stdout)
    assert {"dev", "prod"} <= {row["profile"] for row in doc}
    assert all(row["policy"] is False and row["modes"] == {} for row in doc)
