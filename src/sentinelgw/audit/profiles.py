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

_ROLE_ARN = re.compile(
    r"arn:(?P<part>aws[\w-]*):iam::(?P<acct>\d{12}):role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]+)",
    re.ASCII,
)


def _aws_config_role_map() -> dict[str, list[str]]:
    """role ARN → profile names, read with botocore so AWS_CONFIG_FILE applies."""
    import botocore.session

    profiles: Any = botocore.session.Session().full_config.get("profiles", {})
    out: dict[str, list[str]] = {}
    for name, values in profiles.items():
        if isinstance(values, dict) and isinstance(values.get("role_arn"), str):
            out.setdefault(values["role_arn"].strip(), []).append(str(name))
    return out


def _aws_config_profiles() -> list[str]:
    import botocore.session

    profiles: Any = botocore.session.Session().full_config.get("profiles", {})
    return [str(name) for name in profiles]


def role_profile_map() -> dict[str, list[str]]:
    """The shared helper of ``sentinelgw.credentials.profiles`` when present, else our own."""
    try:
        from sentinelgw.credentials.profiles import role_profile_map as shared
    except ImportError:
        return _aws_config_role_map()
    result: dict[str, list[str]] = shared()
    return result


def role_key(arn: str) -> tuple[str, str, str] | None:
    m = _ROLE_ARN.fullmatch(arn)
    return (m.group("part"), m.group("acct"), m.group("name")) if m else None


def is_role_arn(value: str) -> bool:
    """True for an IAM role ARN (``arn:<partition>:iam::<12 digits>:role/[path/]name``)."""
    return role_key(value) is not None


def same_role(a: str, b: str) -> bool:
    """Whether two role ARNs name the same role: equal, or same account and role name."""
    if a == b:
        return True
    ka = role_key(a)
    return ka is not None and ka == role_key(b)


@dataclass
class ProfileResolver:
    """Looks up the profiles of a role ARN; built once per audit."""

    by_arn: Mapping[str, list[str]]
    other_profiles: frozenset[str] = frozenset()  # config profiles without a role_arn
    _by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    _memo: dict[str, tuple[str, ...]] = field(default_factory=dict)  # few roles, many events

    def __post_init__(self) -> None:
        for arn, names in self.by_arn.items():
            key = role_key(arn)
            if key is not None:
                self._by_key.setdefault(key, []).extend(names)

    @classmethod
    def from_aws_config(cls) -> ProfileResolver:
        return cls(role_profile_map(), frozenset(_aws_config_profiles()))

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
        """The profiles that assume a role (the ones events can be attributed to)."""
        return sorted({n for names in self.by_arn.values() for n in names})

    def known_profiles(self) -> list[str]:
        """Every profile the AWS config names."""
        return sorted(set(self.all_profiles()) | self.other_profiles)

    def role_arns(self) -> list[str]:
        return sorted(self.by_arn)

    def same_role(self, a: str, b: str) -> bool:
        return same_role(a, b)
