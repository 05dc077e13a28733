"""Sentinel configuration: files, their precedence, and where each value came from.

Files, later ones overriding earlier ones key by key:

1. ``~/.sentinel/config.yaml`` (user)
2. ``./sentinel.yaml`` (project)
3. ``SENTINEL_CONFIG``, or ``--config FILE`` which replaces it

Keys::

    defaults:
      session_table: sentinel-sessions
      region: us-east-1
      retention_days: 90          # how long session records are kept (TTL)
      sso_cache_dir: ~/.aws/sso/cache
      fail_open: false            # profiles that do not require tracking may run untracked
                                  # if the table is unreachable (with a warning)
    policy_source: ssm:/sentinel/policies/prod   # or a file path
    policies: [...]               # inline policy (Sentinel form)
    version: "1" / rules: [...]   # inline policy (Go form)

Every effective value is a :class:`Setting` that records its source for ``config show``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinelgw.errors import ConfigError
from sentinelgw.sessions.model import DEFAULT_RETENTION_DAYS
from sentinelgw.yamlsrc import YamlDoc, YamlError, load_yaml_path

DEFAULT_KEYS: dict[str, type | tuple[type, ...]] = {
    "session_table": str,
    "region": str,
    "retention_days": int,
    "sso_cache_dir": str,
    "fail_open": bool,
}
TOP_KEYS = {"defaults", "policy_source", "policies", "version", "rules"}
POLICY_KEYS = {"policies", "version", "rules"}
BUILTIN_DEFAULTS: dict[str, Any] = {"retention_days": DEFAULT_RETENTION_DAYS, "fail_open": False}


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "file:line", "--flag", "env NAME", "built-in default"


@dataclass
class Config:
    files: list[str] = field(default_factory=list)
    defaults: dict[str, Setting] = field(default_factory=dict)
    policy_source: Setting | None = None
    inline_policy: YamlDoc | None = None  # the document holding the winning inline policy

    def default(self, key: str) -> Any:
        s = self.defaults.get(key)
        return s.value if s is not None else None


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    from sentinelgw.fsutil import home_dir

    return home_dir(env) / ".sentinel" / "config.yaml"


def config_paths(
    explicit: str | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> list[tuple[Path, bool]]:
    """(path, required) in precedence order, lowest first."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    paths: list[tuple[Path, bool]] = [
        (user_config_path(env), False),
        (cwd / "sentinel.yaml", False),
    ]
    chosen = explicit or env.get("SENTINEL_CONFIG")
    if chosen:
        paths.append((Path(chosen).expanduser(), True))
    return paths


def load_config(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    use_cache: bool = True,
) -> Config:
    cfg = Config()
    for key, value in BUILTIN_DEFAULTS.items():
        cfg.defaults[key] = Setting(value, "built-in default")
    seen: set[Path] = set()
    cache_dir = str(user_config_path(env).parent / "cache" / "config") if use_cache else None
    for path, required in config_paths(explicit, env, cwd):
        try:
            resolved = path.resolve()
        except OSError:
            resolved = path
        if resolved in seen:
            continue
        seen.add(resolved)
        if not path.exists():
            if required:
                raise ConfigError(
                    f"config file {path} does not exist",
                    hint="Check --config or SENTINEL_CONFIG",
                )
            continue
        _merge_file(cfg, path, cache_dir)
    return cfg


def _merge_file(cfg: Config, path: Path, cache_dir: str | None) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        doc = load_yaml_path(str(path), raw, cache_dir)
    except YamlError as exc:
        raise ConfigError(str(exc), hint="Fix the YAML syntax") from None
    cfg.files.append(str(path))
    data = doc.data
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(
            f"{doc.where(())}: the config must be a mapping of keys such as 'defaults'"
        )
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"{doc.where((key,))}: unknown key {key!r}",
                hint=f"Allowed top-level keys: {', '.join(sorted(TOP_KEYS))}",
            )
    defaults = data.get("defaults")
    if defaults is not None:
        if not isinstance(defaults, dict):
            raise ConfigError(f"{doc.where(('defaults',))}: 'defaults' must be a mapping")
        for key, value in defaults.items():
            expected = DEFAULT_KEYS.get(key)
            if expected is None:
                raise ConfigError(
                    f"{doc.where(('defaults', key))}: unknown key defaults.{key}",
                    hint=f"Allowed: {', '.join(sorted(DEFAULT_KEYS))}",
                )
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if not ok or (isinstance(value, str) and not value.strip()):
                raise ConfigError(
                    f"{doc.where(('defaults', key))}: defaults.{key} must be a non-empty "
                    f"{getattr(expected, '__name__', 'value')}, not {value!r}"
                )
            if key == "retention_days" and int(value) < 1:
                raise ConfigError(f"{doc.where(('defaults', key))}: retention_days must be ≥ 1")
            cfg.defaults[key] = Setting(value, doc.where(("defaults", key)))
    if "policy_source" in data:
        ps = data["policy_source"]
        if not isinstance(ps, str) or not ps.strip():
            raise ConfigError(
                f"{doc.where(('policy_source',))}: policy_source must be a string "
                "such as ssm:/sentinel/policies/prod or a file path"
            )
        if not ps.startswith("ssm:"):
            p = Path(ps).expanduser()
            if not p.is_absolute():
                p = path.parent / p
            ps = str(p)
        cfg.policy_source = Setting(ps, doc.where(("policy_source",)))
    if any(k in data for k in POLICY_KEYS):
        cfg.inline_policy = doc
