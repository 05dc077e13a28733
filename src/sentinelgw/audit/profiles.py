"""Attributing a role ARN to the AWS config profiles that assume it.

The mapping comes from the ``role_arn`` entries of the AWS config (``AWS_CONFIG_FILE``).
A role ARN written with a path (``role/team/deploy``) and one written without it name the same
role only if the path matches, but CloudTrail shows the ARN as the caller passed it, so we match
exactly first and then on (account, role name), which is unique within an account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ROLE_ARN = re.compile(r"^arn:(?P<part>[\w-]+):iam::(?P<acct>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")


def _aws_config_role_map() -> dict[str, list[str]]:
    """role ARN → profile names, read with botocore so AWS_CONFIG_FILE applies."""
    import botocore.session

    profiles: Any = botocore.session.Session().full_config.get("profiles", {})
    out: dict[str, list[str]] = {}
    for name, values in profiles.items():
        if isinstance(values, dict) and isinstance(values.get("role_arn"), str):
            out.setdefault(values["role_arn"].strip(), []).append(str(name))
    return out


def role_profile_map() -> dict[str, list[str]]:
    """The shared helper of ``sentinelgw.credentials.profiles`` when present, else our own."""
    try:
        from sentinelgw.credentials.profiles import role_profile_map as shared
    except ImportError:
        return _aws_config_role_map()
    result: dict[str, list[str]] = shared()
    return result


def role_key(arn: str) -> tuple[str, str, str] | None:
    m = _ROLE_ARN.match(arn)
    return (m.group("part"), m.group("acct"), m.group("name")) if m else None


@dataclass
class ProfileResolver:
    """Looks up the profiles of a role ARN; built once per audit."""

    by_arn: Mapping[str, list[str]]
    _by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    _memo: dict[str, tuple[str, ...]] = field(default_factory=dict)  # few roles, many events

    def __post_init__(self) -> None:
        for arn, names in self.by_arn.items():
            key = role_key(arn)
            if key is not None:
                self._by_key.setdefault(key, []).extend(names)

    @classmethod
    def from_aws_config(cls) -> ProfileResolver:
        return cls(role_profile_map())

    def __call__(self, role_arn: str) -> tuple[str, ...]:
        found = self._memo.get(role_arn)
        if found is None:
            names = self.by_arn.get(role_arn)
            if names is None:
                key = role_key(role_arn)
                names = self._by_key.get(key, []) if key is not None else []
            found = self._memo[role_arn] = tuple(sorted(set(names)))
        return found

    def all_profiles(self) -> list[str]:
        return sorted({n for names in self.by_arn.values() for n in names})

    def same_role(self, a: str, b: str) -> bool:
        if a == b:
            return True
        ka = role_key(a)
        return ka is not None and ka == role_key(b)
