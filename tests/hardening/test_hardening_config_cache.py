"""The config parse cache is trusted only when it is ours and matches the file's bytes.

The attack: the cache under ``~/.sentinel/cache/config/`` is the user's to write, so a forged
entry could replace the policy of a config file the user cannot edit (one an administrator
owns). An entry is used only for a config file the user owns (who could then edit the file
itself), only when it holds the SHA-256 of the bytes just read, and only from a private folder
and file that the user owns.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from sentinelgw import yamlsrc

Run = Callable[..., CompletedProcess[str]]
OTHER_UID = 65534  # nobody

DENY_ALL = "policies:\n  - name: deny-prod\n    match: {profile: prod}\n    effect: deny\n"
FORGED = {"policies": [{"name": "forged", "effect": "allow"}]}


def explain(run: Run, config: Path) -> CompletedProcess[str]:
    return run(
        [
            "policy",
            "explain",
            "--config",
            str(config),
            "--profile",
            "prod",
            "--user",
            "alice",
            "--format",
            "json",
        ]
    )


def cache_dir(home: Path) -> Path:
    return home / ".sentinel" / "cache" / "config"


def plant(home: Path, config: Path, key: list[object]) -> Path:
    folder = cache_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    entry = folder / Path(yamlsrc._cache_file(str(folder), str(config))).name
    entry.write_text(json.dumps({"key": key, "data": FORGED, "lines": []}))
    os.chmod(entry, 0o600)
    return entry


def true_key(config: Path) -> list[object]:
    digest = hashlib.sha256(config.read_bytes()).hexdigest()
    return [yamlsrc._CACHE_VERSION, str(config), digest]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "policy-config.yaml"
    path.write_text(DENY_ALL)
    return path


def decided_by(proc: CompletedProcess[str]) -> str | None:
    assert proc.returncode in (0, 1), proc.stderr
    rule: str | None = json.loads(proc.stdout)["rule"]
    return rule


def test_cache_entry_keyed_by_file_identity_only_is_ignored(
    run_sentinel: Run, sandbox_env: dict[str, str], config: Path
) -> None:
    home = Path(sandbox_env["HOME"])
    # An entry keyed like the old cache (file identity only) no longer matches anything.
    st = config.stat()
    plant(home, config, [1, str(config), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
    assert decided_by(explain(run_sentinel, config)) == "deny-prod"


def test_cache_entry_for_other_bytes_is_ignored(
    run_sentinel: Run, sandbox_env: dict[str, str], config: Path
) -> None:
    home = Path(sandbox_env["HOME"])
    assert decided_by(explain(run_sentinel, config)) == "deny-prod"  # fills the cache
    entry = next(cache_dir(home).glob("*.json"))
    # Same size, same mtime, other content: the hash in the entry no longer matches.
    before = config.stat()
    config.write_text(DENY_ALL.replace("deny-prod", "deny-prud"))
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert entry.exists()
    assert decided_by(explain(run_sentinel, config)) == "deny-prud"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_forged_config_cache_is_ignored(
    run_sentinel: Run, sandbox_env: dict[str, str], config: Path
) -> None:
    home = Path(sandbox_env["HOME"])
    os.chown(config, OTHER_UID, OTHER_UID)
    os.chmod(config, 0o644)
    # A read-only config the user cannot edit: even an entry with the right hash of the
    # right bytes is not used, because the user could have written any data beside it.
    plant(home, config, true_key(config))
    assert decided_by(explain(run_sentinel, config)) == "deny-prod"


def test_cache_planted_in_a_world_writable_folder_is_ignored(
    run_sentinel: Run, sandbox_env: dict[str, str], config: Path
) -> None:
    home = Path(sandbox_env["HOME"])
    plant(home, config, true_key(config))
    os.chmod(cache_dir(home), 0o777)
    assert decided_by(explain(run_sentinel, config)) == "deny-prod"


def test_cache_entry_that_is_a_symlink_is_ignored(
    run_sentinel: Run, sandbox_env: dict[str, str], config: Path, tmp_path: Path
) -> None:
    home = Path(sandbox_env["HOME"])
    entry = plant(home, config, true_key(config))
    elsewhere = tmp_path / "planted.json"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    assert decided_by(explain(run_sentinel, config)) == "deny-prod"


def test_cache_still_serves_the_users_own_unchanged_config(config: Path, tmp_path: Path) -> None:
    # The cache keeps working where it is safe: same bytes, our file, our private folder.
    folder = tmp_path / "cache"
    first = yamlsrc.load_yaml_path(str(config), config.read_bytes(), str(folder))
    entries = list(folder.glob("*.json"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    entry = json.loads(entries[0].read_text())
    entry["data"] = {"policies": []}  # a marker only the cache can return
    entries[0].write_text(json.dumps(entry))
    again = yamlsrc.load_yaml_path(str(config), config.read_bytes(), str(folder))
    assert first.data != again.data == {"policies": []}
