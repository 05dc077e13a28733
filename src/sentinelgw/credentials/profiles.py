"""AWS profiles, read through botocore's own config loader (so AWS_CONFIG_FILE,
AWS_SHARED_CREDENTIALS_FILE and ``[sso-session]`` sections behave as in the AWS CLI)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.awsclients import aws_config
from sentinelgw.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str  # "role" | "sso" | "static" | "process" | "other"
    settings: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        value = self.settings.get(key)
        return None if value is None else str(value)

    @property
    def role_arn(self) -> str | None:
        return self.get("role_arn")

    @property
    def region(self) -> str | None:
        return self.get("region")


def _full_config() -> dict[str, Any]:
    try:
        cfg = aws_config()
    except Exception as exc:  # configparser errors in a hand-edited file
        raise ConfigError(
            f"cannot parse the AWS config: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            hint="Fix the file named by AWS_CONFIG_FILE (default ~/.aws/config)",
        ) from None
    return dict(cfg)


def load_profile(name: str) -> Profile:
    profiles = _full_config().get("profiles", {})
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"AWS profile {name!r} was not found (known profiles: {known})",
            hint="Check --profile, AWS_PROFILE and AWS_CONFIG_FILE",
        )
    settings = dict(profiles[name])
    return Profile(name=name, kind=_kind(settings), settings=settings)


def all_profiles() -> list[Profile]:
    """Every profile in the AWS config and credentials files, by name."""
    profiles = _full_config().get("profiles", {})
    return [
        Profile(name=name, kind=_kind(dict(settings)), settings=dict(settings))
        for name, settings in sorted(profiles.items())
    ]


def sso_session_settings(name: str) -> dict[str, Any]:
    sessions = _full_config().get("sso_sessions", {})
    if name not in sessions:
        raise ConfigError(
            f"sso-session {name!r} is not defined in the AWS config",
            hint=f"Add a [sso-session {name}] section with sso_start_url and sso_region",
        )
    return dict(sessions[name])


def _kind(settings: Mapping[str, Any]) -> str:
    if "role_arn" in settings:
        return "role"
    if "sso_session" in settings or "sso_start_url" in settings:
        return "sso"
    if "aws_access_key_id" in settings:
        return "static"
    if "credential_process" in settings:
        return "process"
    return "other"


def role_profile_map() -> dict[str, list[str]]:
    """Role ARN → the profiles whose ``role_arn`` names it (for the audit)."""
    out: dict[str, list[str]] = {}
    for name, settings in sorted(_full_config().get("profiles", {}).items()):
        arn = settings.get("role_arn")
        if arn:
            out.setdefault(str(arn), []).append(name)
    return out


def default_profile(env: Mapping[str, str] | None = None) -> str | None:
    """The profile used when ``--profile`` is not given: AWS_PROFILE, then AWS_DEFAULT_PROFILE."""
    env = os.environ if env is None else env
    return env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or None
