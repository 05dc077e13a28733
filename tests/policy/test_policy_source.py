"""Policy sources: file reload on change, config fallbacks, and SSM against moto over HTTP."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sentinelgw.context import Context
from sentinelgw.credentials.providers import own_session
from sentinelgw.errors import AWSError, ConfigError, PolicyInvalid
from sentinelgw.policy import Effect
from sentinelgw.policy.source import (
    FilePolicySource,
    InlinePolicySource,
    SSMPolicySource,
    open_policy_source,
)

ALLOW = "policies:\n  - name: a\n    match: {profile: prod}\n    effect: allow\n"
DENY = "policies:\n  - name: d\n    match: {profile: prod}\n    effect: deny\n    reason: frozen\n"
BROKEN = "policies:\n  - name: d\n    efect: deny\n"


def bump(path: Path, text: str, step: int) -> None:
    """Rewrite ``path`` with a distinct mtime, so the change is visible even within one tick."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + step * 1_000_000_000))


def test_file_source_reloads_on_edit_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ALLOW)
    src = FilePolicySource(path)
    first = src.current()
    assert first.rules[0].effect is Effect.ALLOW
    assert src.current() is first  # unchanged file: no reload
    bump(path, DENY, 1)
    assert src.current().rules[0].effect is Effect.DENY
    bump(path, BROKEN, 2)
    for _ in range(2):  # stays refused until the file is fixed
        with pytest.raises(PolicyInvalid, match="unknown key 'efect'"):
            src.current()
    bump(path, ALLOW, 3)
    assert src.current().rules[0].effect is Effect.ALLOW


def test_file_source_sees_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ALLOW)
    src = FilePolicySource(path)
    assert src.current().rules[0].name == "a"
    new = tmp_path / "new.yaml"
    new.write_text(ALLOW.replace("name: a", "name: b"))  # same size, new inode
    st = path.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, path)
    assert src.current().rules[0].name == "b"


def test_file_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        FilePolicySource(tmp_path / "nope.yaml")
    path = tmp_path / "p.yaml"
    path.write_text(ALLOW)
    src = FilePolicySource(path)
    path.unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        src.current()


def make_app(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: str | None = None,
    env: dict[str, str] | None = None,
) -> Context:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    if config is not None:
        (cwd / "sentinel.yaml").write_text(config)
    base = dict(env or {"PATH": os.environ.get("PATH", "")})
    base["HOME"] = str(tmp_path / "home")
    return Context(env=base, own_session=own_session)


def test_open_source_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no policy configured") as info:
        open_policy_source(None, make_app(tmp_path, monkeypatch))
    assert "--policy" in str(info.value) and "policy_source" in str(info.value)
    src = open_policy_source(None, make_app(tmp_path, monkeypatch, ALLOW))
    assert isinstance(src, InlinePolicySource)
    assert src.describe().startswith("inline policy in ") and src.current().rules[0].name == "a"
    (tmp_path / "central.yaml").write_text(DENY)
    src = open_policy_source(
        None, make_app(tmp_path, monkeypatch, "policy_source: ../central.yaml\n" + ALLOW)
    )
    assert isinstance(src, FilePolicySource) and src.current().rules[0].name == "d"
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(ALLOW.replace("name: a", "name: x"))
    src = open_policy_source(str(explicit), make_app(tmp_path, monkeypatch, DENY))
    assert src.current().rules[0].name == "x"
    with pytest.raises(ConfigError, match="Name the parameter"):
        open_policy_source("ssm:", make_app(tmp_path, monkeypatch))


def test_inline_policy_errors_name_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path, monkeypatch, "defaults:\n  region: us-east-1\n" + BROKEN)
    with pytest.raises(PolicyInvalid) as info:
        open_policy_source(None, app)
    assert info.value.problems[0].endswith(
        "sentinel.yaml:5: unknown key 'efect' in rule #1 "
        "(did you mean 'effect'?); allowed: name, match, "
        "effect, session_table, max_server_duration, reason"
    )


# --- SSM, against moto's server mode over HTTP ---------------------------------------------


def put(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def test_ssm_source_reads_secure_string(
    ssm: Any, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(ssm, "/sentinel/policies/read", ALLOW)
    src = open_policy_source(
        "ssm:/sentinel/policies/read", make_app(tmp_path, monkeypatch, env=aws_env)
    )
    assert isinstance(src, SSMPolicySource)
    assert src.describe() == "ssm:/sentinel/policies/read"
    assert src.current().rules[0].name == "a"
    assert src.current().source == "ssm:/sentinel/policies/read"


def test_ssm_missing_parameter_is_one_line(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AWSError) as info:
        open_policy_source("ssm:/sentinel/none", make_app(tmp_path, monkeypatch, env=aws_env))
    msg = str(info.value)
    assert msg.startswith("SSM parameter /sentinel/none was not found (ssm:GetParameter)")
    assert "\n" not in msg


def test_ssm_invalid_policy_names_the_parameter(
    ssm: Any, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(ssm, "/sentinel/policies/bad", BROKEN)
    with pytest.raises(PolicyInvalid, match=r"^ssm:/sentinel/policies/bad:3: unknown key"):
        open_policy_source(
            "ssm:/sentinel/policies/bad", make_app(tmp_path, monkeypatch, env=aws_env)
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ssm_refresh_keeps_last_good_then_fails_closed(
    ssm: Any, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "/sentinel/policies/stale"
    put(ssm, name, ALLOW)
    app = make_app(tmp_path, monkeypatch, env=aws_env)
    clock = FakeClock()
    src = SSMPolicySource(name, app.client("ssm"), max_stale=30, clock=clock)
    assert src.refresh_once() and src.current().rules[0].name == "a"
    put(ssm, name, DENY)
    assert src.refresh_once() and src.current().rules[0].name == "d"
    put(ssm, name, BROKEN)
    assert not src.refresh_once()
    clock.now += 30
    assert src.current().rules[0].name == "d"  # last good policy, within max_stale
    clock.now += 1
    assert not src.refresh_once()
    with pytest.raises(AWSError, match=r"is invalid and has not refreshed for 31s \(limit 30s\)"):
        src.current()
    ssm.delete_parameter(Name=name)
    assert not src.refresh_once()
    with pytest.raises(AWSError, match="cannot be read.*was not found"):
        src.current()
    put(ssm, name, ALLOW)
    assert src.refresh_once() and src.current().rules[0].name == "a"


def test_ssm_background_refresh_applies_a_change(
    ssm: Any, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "/sentinel/policies/live"
    put(ssm, name, ALLOW)
    src = open_policy_source(f"ssm:{name}", make_app(tmp_path, monkeypatch, env=aws_env))
    src.start_refresh(0.05)
    try:
        put(ssm, name, DENY)
        deadline = time.monotonic() + 15  # a bound on waiting, not an assertion on speed
        while src.current().rules[0].name != "d" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert src.current().rules[0].name == "d"
    finally:
        src.close()


def test_cli_explain_with_ssm_policy(ssm: Any, aws_env: dict[str, str], run_sentinel) -> None:
    put(ssm, "/sentinel/policies/prod", DENY)
    r = run_sentinel(
        "policy",
        "explain",
        "--policy",
        "ssm:/sentinel/policies/prod",
        "--profile",
        "prod",
        "--format",
        "json",
        env=aws_env,
    )
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["rule"] == "d" and data["policy_source"] == "ssm:/sentinel/policies/prod"
    r = run_sentinel(
        "policy",
        "explain",
        "--policy",
        "ssm:/sentinel/policies/absent",
        "--profile",
        "prod",
        env=aws_env,
    )
    assert r.returncode == 2
    assert r.stderr.startswith(
        "sentinel: error: SSM parameter /sentinel/policies/absent was not found (ssm:GetParameter)"
    )


def test_inline_policy_reloads_when_the_config_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = open_policy_source(None, make_app(tmp_path, monkeypatch, ALLOW))
    assert src.current().rules[0].name == "a"
    cfg = next(tmp_path.rglob("*.yaml"))
    cfg.write_text(DENY)
    assert src.current().rules[0].name == "d"
