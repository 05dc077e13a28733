"""Sentinel configuration: files, their precedence, and where each value came from.

Files, later ones overriding earlier ones key by key:

1. ``/etc/sentinel/config.yaml`` (system)
2. ``~/.sentinel/config.yaml`` (user)
3. ``sentinel.yaml`` in the working directory or the nearest folder above it (project)
4. ``SENTINEL_CONFIG``, or ``--config FILE`` which replaces it

A ``policy_source`` set in the system or user config is *central* and pinned: no later file
replaces it, and their inline policies are not used (each is noted in ``Config.notes``). A
project file is content of whatever repository the user works in, so one owned by another
user or writable by others is not read. The system and user files must be owned by the
current user or root and not writable by others, or loading fails.

Keys::

    defaults:
      session_table: sentinel-sessions
      region: us-east-1
      retention_days: 90          # how long session records are kept (TTL)
      sso_cache_dir: ~/.aws/sso/cache
      fail_open: false            # profiles that do not require tracking may run untracked
                                  # if the table is unreachable (with a warning)
      remote: https://...         # the credential service: exec/credentials use it by default
      remote_service_id: ...      # the id proofs name (default: the remote URL's origin)
      audit_source: s3://bucket/prefix  # CloudTrail source server-revoke reads to find role
                                  # chains (as --source; default: LookupEvents)
      revoker_roles:              # account -> role server-revoke acts through there
        "222233334444": arn:aws:iam::222233334444:role/SentinelRevoker
      security_profile: security  # the AWS profile an access-denied message suggests
                                  # (--aws-profile) for the security team's commands
    policy_source: ssm:/sentinel/policies/prod   # or a file path
    policies: [...]               # inline policy (Sentinel form)
    version: "1" / rules: [...]   # inline policy (Go form)

``remote`` and ``remote_service_id`` decide where the user's signed proofs of identity go, so
they are read from the system and user config only: a project file (content of a repository)
or a ``--config``/``SENTINEL_CONFIG`` file that sets them is ignored, and named in
``Config.ignored_remote`` for a warning.

Every effective value is a :class:`Setting` that records its source for ``config show``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinelgw.errors import ConfigError
from sentinelgw.fsutil import home_dir
from sentinelgw.yamlsrc import YamlDoc, YamlError, load_yaml_path

# Days a session record is kept past its expiry (the DynamoDB TTL), unless
# defaults.retention_days says otherwise.
DEFAULT_RETENTION_DAYS = 90

DEFAULT_KEYS: dict[str, type | tuple[type, ...]] = {
    "session_table": str,
    "region": str,
    "retention_days": int,
    "sso_cache_dir": str,
    "fail_open": bool,
    "remote": str,
    "remote_service_id": str,
    "audit_source": str,
    "revoker_roles": dict,
    "security_profile": str,
}
TOP_KEYS = {"defaults", "policy_source", "policies", "version", "rules"}
POLICY_KEYS = {"policies", "version", "rules"}
BUILTIN_DEFAULTS: dict[str, Any] = {"retention_days": DEFAULT_RETENTION_DAYS, "fail_open": False}
# Where proofs are sent and which service they name: only the system or user config sets them.
REMOTE_KEYS = ("remote", "remote_service_id")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_.+=,@-]{1,64}")


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "file:line", "--flag", "env NAME", "built-in default"


SYSTEM_CONFIG = Path("/etc/sentinel/config.yaml")
CENTRAL_KINDS = ("system", "user")


@dataclass(frozen=True)
class ConfigFile:
    """One place a config file may be: ``kind`` is system, user, project or explicit."""

    path: Path
    kind: str
    required: bool = False


@dataclass
class Config:
    files: list[str] = field(default_factory=list)
    defaults: dict[str, Setting] = field(default_factory=dict)
    policy_source: Setting | None = None
    inline_policy: YamlDoc | None = None  # the document holding the winning inline policy
    # True when policy_source comes from the system or user config: then --policy is refused
    # (unless --debug-policy) and later files cannot replace it.
    policy_pinned: bool = False
    notes: list[str] = field(default_factory=list)  # settings that were ignored, and why
    # "file:line" of each remote/remote_service_id a project or --config file tried to set
    ignored_remote: list[str] = field(default_factory=list)

    def default(self, key: str) -> Any:
        s = self.defaults.get(key)
        return s.value if s is not None else None


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    return home_dir(env) / ".sentinel" / "config.yaml"


def find_project_config(cwd: Path) -> Path | None:
    """The nearest ``sentinel.yaml`` in ``cwd`` or a folder above it."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / "sentinel.yaml"
        if candidate.is_file():
            return candidate
    return None


def config_paths(
    explicit: str | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    system: Path | None = SYSTEM_CONFIG,
) -> list[ConfigFile]:
    """The config files in precedence order, lowest first."""
    env = os.environ if env is None else env
    paths = [ConfigFile(system, "system")] if system is not None else []
    paths.append(ConfigFile(user_config_path(env), "user"))
    project = find_project_config(cwd or Path.cwd())
    if project is not None:
        paths.append(ConfigFile(project, "project"))
    chosen = explicit or env.get("SENTINEL_CONFIG")
    if chosen:
        paths.append(ConfigFile(Path(chosen).expanduser(), "explicit", required=True))
    return paths


def load_config(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    use_cache: bool = True,
    system: Path | None = SYSTEM_CONFIG,
) -> Config:
    cfg = Config()
    for key, value in BUILTIN_DEFAULTS.items():
        cfg.defaults[key] = Setting(value, "built-in default")
    seen: set[Path] = set()
    cache_dir = str(user_config_path(env).parent / "cache" / "config") if use_cache else None
    for entry in config_paths(explicit, env, cwd, system):
        path = entry.path
        try:
            resolved = path.resolve()
        except OSError:
            resolved = path
        if resolved in seen:
            continue
        seen.add(resolved)
        if not path.exists():
            if entry.required:
                raise ConfigError(
                    f"config file {path} does not exist",
                    hint="Check --config or SENTINEL_CONFIG",
                )
            continue
        problem = foreign_file(path)
        if problem and entry.kind == "project":
            cfg.notes.append(f"{path} ignored: {problem}")
            continue
        if problem and entry.kind in CENTRAL_KINDS:
            raise ConfigError(
                f"config file {path} {problem}",
                hint="Sentinel does not read it: fix its owner and mode (chmod go-w), or remove it",
            )
        _merge_file(cfg, path, cache_dir, entry.kind)
    return cfg


def foreign_file(path: Path) -> str | None:
    """Why another local user could have written ``path`` (None if only we or root could)."""
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_uid not in (os.geteuid(), 0):
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o002:
        return "is writable by every user"
    return None


def _merge_file(cfg: Config, path: Path, cache_dir: str | None, kind: str) -> None:
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
            if key == "revoker_roles":
                _check_revoker_roles(value, doc.where(("defaults", key)))
            if key == "security_profile" and not _PROFILE_NAME.fullmatch(value):
                raise ConfigError(
                    f"{doc.where(('defaults', key))}: defaults.security_profile must be an AWS "
                    "profile name (letters, digits and _.+=,@-)"
                )
            if key == "retention_days" and int(value) < 1:
                raise ConfigError(f"{doc.where(('defaults', key))}: retention_days must be ≥ 1")
            if key in REMOTE_KEYS and kind not in CENTRAL_KINDS:
                where = doc.where(("defaults", key))
                cfg.ignored_remote.append(where)
                cfg.notes.append(
                    f"{where}: defaults.{key} ignored; only the user's own config, "
                    "SENTINEL_REMOTE or --remote choose the credential service"
                )
                continue
            cfg.defaults[key] = Setting(value, doc.where(("defaults", key)))
    _merge_policy(cfg, doc, path, kind)


def _check_revoker_roles(value: dict[Any, Any], where: str) -> None:
    import re

    for account, role in value.items():
        if not re.fullmatch(r"\d{12}", str(account)) or not (
            isinstance(role, str)
            and re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+", role)
            and role.split(":")[4] == str(account)
        ):
            raise ConfigError(
                f"{where}: defaults.revoker_roles maps a 12-digit account id (quoted) to a role "
                f"ARN in it, not {account!r}: {role!r}"
            )


def _merge_policy(cfg: Config, doc: YamlDoc, path: Path, kind: str) -> None:
    """``policy_source`` and inline policies; a central (pinned) source is never replaced."""
    data = doc.data
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
        if cfg.policy_pinned and kind not in CENTRAL_KINDS:
            pinned = cfg.policy_source
            assert pinned is not None
            cfg.notes.append(
                f"{doc.where(('policy_source',))}: ignored; the policy source "
                f"{pinned.value} is pinned by {pinned.source}"
            )
        else:
            cfg.policy_source = Setting(ps, doc.where(("policy_source",)))
            cfg.policy_pinned = kind in CENTRAL_KINDS
    if any(k in data for k in POLICY_KEYS):
        if cfg.policy_pinned and kind not in CENTRAL_KINDS:
            cfg.notes.append(
                f"{path}: inline policy ignored; the policy source is pinned "
                "by the system or user config"
            )
        else:
            cfg.inline_policy = doc
