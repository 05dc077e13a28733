"""The ``breakglass:`` section of the service document: who may open emergency access, to what.

Example (every key but ``allow`` optional; defaults shown)::

    breakglass:
      require_mfa: false           # true: MFA, verified through mfa_role (required then)
      mfa_role: arn:aws:iam::111122223333:role/sentinel-breakglass-mfa
      default_duration: 1h         # when the user names none
      max_duration: 4h             # at most 4h, whatever is written here
      per_user: 3                  # grants a user may open ...
      window: 24h                  # ... in this sliding window
      cooldown: 30m                # and at least this long between two of them
      allow:                       # the first entry naming both the user and the profile
        - users: [alice, oncall-*] # user names or globs (the policy's user)
          profiles: [prod-approve] # profile names or globs of the document's profiles

Reason codes are those of Sentinel Go's break-glass: incident, maintenance, security, recovery,
other. A justification is 20 to 1000 characters. Nobody may open break-glass on a profile the
section does not name for them; a document without the section allows none. ``mfa_role`` names
the role whose session signs the MFA proof (:mod:`sentinelgw.service.mfa_role`); it must be in
the service's own account, which the service confirms when it reads the role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from sentinelgw.errors import PolicyInvalid, UsageError
from sentinelgw.timeutil import format_duration, parse_duration
from sentinelgw.yamlsrc import YamlDoc

REASON_CODES = ("incident", "maintenance", "security", "recovery", "other")
MIN_JUSTIFICATION, MAX_JUSTIFICATION = 20, 1000
MAX_DURATION = timedelta(hours=4)
DEFAULT_DURATION = timedelta(hours=1)
DEFAULT_PER_USER = 3
DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_COOLDOWN = timedelta(minutes=30)
_KEYS = (
    "require_mfa",
    "mfa_role",
    "default_duration",
    "max_duration",
    "per_user",
    "window",
    "cooldown",
    "allow",
)
_ALLOW_KEYS = ("users", "profiles")
_GLOB = re.compile(r"^[\w+=,.@/*?-]{1,128}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class BreakGlassPolicy:
    allow: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # (users, profiles)
    require_mfa: bool = False
    mfa_role: str | None = None  # the role ARN whose sessions show MFA (required with MFA)
    default_duration: timedelta = DEFAULT_DURATION
    max_duration: timedelta = MAX_DURATION
    per_user: int = DEFAULT_PER_USER
    window: timedelta = DEFAULT_WINDOW
    cooldown: timedelta = DEFAULT_COOLDOWN

    def allows(self, user: str, profile: str) -> bool:
        return any(
            any(fnmatchcase(user, u) for u in users)
            and any(fnmatchcase(profile, p) for p in profiles)
            for users, profiles in self.allow
        )


def parse_breakglass(doc: YamlDoc, raw: Any) -> BreakGlassPolicy:
    if raw is None:
        return BreakGlassPolicy()
    where = doc.where(("breakglass",))
    if not isinstance(raw, dict) or not set(raw) <= set(_KEYS):
        raise PolicyInvalid(f"{where}: 'breakglass' takes {', '.join(_KEYS)}")
    mfa = raw.get("require_mfa", False)
    if not isinstance(mfa, bool):
        raise PolicyInvalid(
            f"{doc.where(('breakglass', 'require_mfa'))}: require_mfa must be true or false"
        )
    mfa_role = _mfa_role(doc, raw.get("mfa_role"), mfa)
    low, high = timedelta(minutes=1), MAX_DURATION
    max_duration = _duration(doc, "max_duration", raw, MAX_DURATION, low, high)
    default = _duration(doc, "default_duration", raw, DEFAULT_DURATION, low, high)
    window = _duration(doc, "window", raw, DEFAULT_WINDOW, low, timedelta(days=7))
    cooldown = _duration(doc, "cooldown", raw, DEFAULT_COOLDOWN, timedelta(0), timedelta(days=1))
    per_user = raw.get("per_user", DEFAULT_PER_USER)
    if not isinstance(per_user, int) or isinstance(per_user, bool) or not 1 <= per_user <= 100:
        raise PolicyInvalid(
            f"{doc.where(('breakglass', 'per_user'))}: per_user must be a whole number from 1 "
            "to 100"
        )
    entries = raw.get("allow") or []
    if not isinstance(entries, list):
        raise PolicyInvalid(f"{doc.where(('breakglass', 'allow'))}: 'allow' must be a list")
    allow = tuple(_entry(doc, i, e) for i, e in enumerate(entries))
    return BreakGlassPolicy(
        allow=allow,
        require_mfa=mfa,
        mfa_role=mfa_role,
        default_duration=min(default, max_duration),
        max_duration=max_duration,
        per_user=per_user,
        window=window,
        cooldown=cooldown,
    )


def _mfa_role(doc: YamlDoc, raw: Any, required: bool) -> str | None:
    where = doc.where(("breakglass", "mfa_role") if raw is not None else ("breakglass",))
    if raw is None:
        if required:
            raise PolicyInvalid(
                f"{where}: require_mfa: true needs mfa_role, the ARN of the role whose trust "
                "policy requires MFA (see the break-glass docs, MFA)"
            )
        return None
    if not isinstance(raw, str) or not ROLE_ARN.match(raw):
        raise PolicyInvalid(f"{where}: mfa_role must be an IAM role ARN")
    return raw


def _entry(doc: YamlDoc, index: int, raw: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    where = doc.where(("breakglass", "allow", index))
    if not isinstance(raw, dict) or set(raw) != set(_ALLOW_KEYS):
        raise PolicyInvalid(f"{where}: each allow entry takes users and profiles")
    out = []
    for key in _ALLOW_KEYS:
        value = raw[key]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and _GLOB.match(v) for v in values):
            raise PolicyInvalid(f"{where}: {key} must list names or globs")
        out.append(tuple(values))
    return out[0], out[1]


def _duration(
    doc: YamlDoc,
    key: str,
    raw: dict[str, Any],
    default: timedelta,
    low: timedelta,
    high: timedelta,
) -> timedelta:
    value = raw.get(key)
    if value is None:
        return default

    try:
        parsed: timedelta | None = parse_duration(str(value), what=key)
    except (UsageError, ValueError):
        parsed = None
    if parsed is None or not low <= parsed <= high:
        raise PolicyInvalid(
            f"{doc.where(('breakglass', key))}: {key} must be a duration from "
            f"{format_duration(low) if low else '0s'} to {format_duration(high)}"
        )
    return parsed
