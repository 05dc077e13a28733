"""The core context's MFA callback, and the private-file helpers under a permissive umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelgw.context import Context
from sentinelgw.errors import ConfigError, CredentialError
from sentinelgw.fsutil import atomic_write, home_dir, private_dir

SERIAL = "arn:aws:iam::123456789012:mfa/alice"


def test_without_a_prompt_an_mfa_code_is_refused_not_awaited() -> None:
    with pytest.raises(CredentialError, match="MFA code for arn:aws:iam::123456789012:mfa/alice"):
        Context(env={}).mfa_code(SERIAL)


def test_the_prompt_is_asked_for_the_device_and_its_answer_checked() -> None:
    asked: list[str] = []

    def prompt(serial: str) -> str:
        asked.append(serial)
        return " 123456\n"

    assert Context(env={}, prompt_mfa=prompt).mfa_code(SERIAL) == "123456"
    assert asked == [SERIAL]
    with pytest.raises(CredentialError, match="6 digits"):
        Context(env={}, prompt_mfa=lambda _s: "12ab56").mfa_code(SERIAL)


def test_notes_reach_the_callback_only_when_there_is_one() -> None:
    seen: list[str] = []
    Context(env={}).note("nobody listens")
    Context(env={}, notify=seen.append).note("capped at 1h")
    assert seen == ["capped at 1h"]


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_files_and_folders_ignore_the_umask(tmp_path: Path, open_umask: None) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(folder) == 0o700
    target = folder / "secret.json"
    atomic_write(target, "one")
    assert mode(target) == 0o600 and target.read_text() == "one"
    target.chmod(0o644)
    atomic_write(target, "two")  # replacing a wider file narrows it again
    assert mode(target) == 0o600 and target.read_text() == "two"
    atomic_write(folder / "public", "x", mode=0o644)
    assert mode(folder / "public") == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["public", "secret.json"]


def test_private_dir_narrows_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert mode(private_dir(folder)) == 0o700


def test_home_dir_prefers_the_given_environment(tmp_path: Path) -> None:
    assert home_dir({"HOME": str(tmp_path)}) == tmp_path
    assert home_dir({}) == Path(os.path.expanduser("~"))


def test_context_without_own_session_refuses_aws_calls_instead_of_using_botocores_chain() -> None:
    # The context sits below the credential providers: the CLI injects own_session; a context
    # built without one must not fall back to botocore assuming a role with no SourceIdentity.
    with pytest.raises(ConfigError, match="own_session"):
        Context(env={}).aws_session("us-east-1")
