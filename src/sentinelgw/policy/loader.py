"""Loading and validating policies from YAML, in either syntax.

Milestone form::

    policies:
      - name: prod-tracked
        match: {profile: prod, user: [alice], mode: server, time: {...}}
        effect: require_server_session

Go form::

    version: "1"
    rules:
      - name: prod-tracked
        conditions: {profiles: [prod], users: [alice], mode: server, time: {...}}
        effect: require_server_session

Every problem is collected with ``file:line``; :class:`PolicyInvalid` carries them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sentinelgw.errors import PolicyInvalid, SentinelError
from sentinelgw.policy.model import Effect, Mode, Policy, Rule
from sentinelgw.policy.time_checks import TimeChecks, show, suggest
from sentinelgw.timeutil import parse_duration
from sentinelgw.wording import counted
from sentinelgw.yamlsrc import Path, YamlDoc, YamlError, load_yaml

# Keys a config file may hold next to an inline policy; config.py validates them.
CONFIG_KEYS = frozenset({"defaults", "policy_source"})
RULE_KEYS = {
    "policies": ("name", "match", "effect", "session_table", "max_server_duration", "reason"),
    "rules": ("name", "conditions", "effect", "session_table", "max_server_duration", "reason"),
}
CONDITION_KEYS = {
    "policies": ("profile", "user", "mode", "time", "role_arn"),
    "rules": ("profiles", "users", "mode", "time", "role_arns"),
}
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_MAX_SERVER_DURATION = timedelta(hours=12)


def load_policy_text(text: str | bytes, filename: str) -> Policy:
    """Parse and validate a standalone policy document; raises :class:`PolicyInvalid`."""
    try:
        doc = load_yaml(text, filename)
    except YamlError as exc:
        raise PolicyInvalid(" ".join(f"{exc}. Fix the YAML syntax".split())) from None
    return policy_from_doc(doc)


def policy_from_doc(doc: YamlDoc) -> Policy:
    """Build a policy from a parsed document (a policy file or a config file's inline policy)."""
    checker = _Checker(doc)
    policy = checker.policy()
    if checker.problems:
        count = len(checker.problems)
        first = checker.problems[0]
        if count > 1:
            first += f" (and {counted(count - 1, 'more problem')})"
        raise PolicyInvalid(first, problems=list(checker.problems))
    assert policy is not None
    return policy


@dataclass
class _Checker(TimeChecks):
    doc: YamlDoc
    problems: list[str] = field(default_factory=list)

    def problem(self, path: Path, message: str) -> None:
        # Keys and values come from the file; keep each problem on one line whatever they hold.
        self.problems.append(" ".join(f"{self.doc.where(path)}: {message}".split()))

    def policy(self) -> Policy | None:
        data = self.doc.data
        if not isinstance(data, dict):
            what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
            self.problem(
                (),
                f"the policy document is {what}; expected 'policies:' (a list of "
                "rules) or 'version: \"1\"' with 'rules:'",
            )
            return None
        has_policies = "policies" in data
        has_go = "rules" in data or "version" in data
        allowed_top = {"policies", "version", "rules"} | CONFIG_KEYS
        for key in data:
            if key not in allowed_top:
                self.problem(
                    (key,),
                    f"unknown top-level key '{key}'{suggest(key, allowed_top)}; "
                    f"allowed: {', '.join(sorted(allowed_top))}",
                )
        if has_policies and has_go:
            other = "rules" if "rules" in data else "version"
            self.problem(
                (other,),
                "both policy forms in one document: use either 'policies:' "
                "or 'version: \"1\"' with 'rules:', not both",
            )
            return None
        if not has_policies and not has_go:
            self.problem(
                (),
                "no policy found: expected 'policies:' (a list of rules) or "
                "'version: \"1\"' with 'rules:'",
            )
            return None
        syntax = "policies" if has_policies else "rules"
        if syntax == "rules":
            version = data.get("version", "1")
            if str(version) != "1" or isinstance(version, bool | float):
                self.problem(("version",), f'unsupported version {show(version)}; allowed: "1"')
            if "rules" not in data:
                self.problem(
                    ("version",), "'version' is given but 'rules:' is missing; add a list of rules"
                )
                return None
        items = data[syntax]
        if not isinstance(items, list):
            self.problem((syntax,), f"'{syntax}' must be a list of rules, not {show(items)}")
            return None
        if not items:
            self.problem(
                (syntax,),
                f"'{syntax}' is empty; add at least one rule (with no rules "
                "every request is denied)",
            )
            return None
        rules: list[Rule] = []
        names: dict[str, str] = {}
        for index, item in enumerate(items):
            rule = self.rule(syntax, index, item)
            if rule is None:
                continue
            if rule.name in names:
                self.problem(
                    (syntax, index, "name"),
                    f"duplicate rule name '{rule.name}' (first used at {names[rule.name]})",
                )
            names.setdefault(rule.name, rule.where)
            rules.append(rule)
        return Policy(rules=tuple(rules), source=self.doc.filename, syntax=syntax)

    def rule(self, syntax: str, index: int, item: Any) -> Rule | None:
        base: Path = (syntax, index)
        if not isinstance(item, dict):
            self.problem(
                base,
                f"rule #{index + 1} must be a mapping with 'effect:' and "
                f"'{'match' if syntax == 'policies' else 'conditions'}:', "
                f"not {show(item)}",
            )
            return None
        allowed = RULE_KEYS[syntax]
        for key in item:
            if key not in allowed:
                hint = suggest(key, allowed)
                other = "rules" if syntax == "policies" else "policies"
                if not hint and key in RULE_KEYS[other]:
                    hint = f" ('{key}' belongs to the '{other}:' form)"
                self.problem(
                    (*base, key),
                    f"unknown key '{key}' in rule #{index + 1}{hint}; "
                    f"allowed: {', '.join(allowed)}",
                )
        before = len(self.problems)
        name = self.string(item, (*base, "name"), required=False)
        effect = self.effect(item, base)
        cond_key = "match" if syntax == "policies" else "conditions"
        conditions = item.get(cond_key)
        profiles = users = role_arns = None
        modes: tuple[Mode, ...] | None = None
        window = None
        if conditions is not None and not isinstance(conditions, dict):
            self.problem(
                (*base, cond_key),
                f"'{cond_key}' must be a mapping of conditions "
                f"({', '.join(CONDITION_KEYS[syntax])}), not "
                f"{show(conditions)}",
            )
        elif conditions:
            cpath: Path = (*base, cond_key)
            ckeys = CONDITION_KEYS[syntax]
            for key in conditions:
                if key not in ckeys:
                    self.problem(
                        (*cpath, key),
                        f"unknown condition '{key}'{suggest(key, ckeys)}; "
                        f"allowed: {', '.join(ckeys)}",
                    )
            profiles = self.names(conditions, cpath, ckeys[0])
            users = self.names(conditions, cpath, ckeys[1])
            role_arns = self.role_arns(conditions, cpath, ckeys[4])
            modes = self.modes(conditions, cpath)
            if "time" in conditions:
                window = self.time(conditions["time"], (*cpath, "time"))
        table = self.string(item, (*base, "session_table"), required=False)
        if table is not None and not _TABLE.match(table):
            self.problem(
                (*base, "session_table"),
                f"invalid session_table {show(table)}; a "
                "DynamoDB table name is 3-255 characters of letters, digits, _ . -",
            )
        duration = self.duration(item, (*base, "max_server_duration"))
        reason = self.string(item, (*base, "reason"), required=False)
        if len(self.problems) > before or effect is None:
            return None
        return Rule(
            name=name or f"rule-{index + 1}",
            index=index,
            effect=effect,
            profiles=profiles,
            users=users,
            role_arns=role_arns,
            modes=modes,
            time=window,
            session_table=table,
            max_server_duration=duration,
            reason=reason,
            where=self.doc.where(base),
        )

    def string(self, item: dict[str, Any], path: Path, *, required: bool) -> str | None:
        key = str(path[-1])
        if key not in item or item[key] is None:
            if required:
                self.problem(path[:-1], f"'{key}' is required")
            return None
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"'{key}' must be a non-empty string, not {show(value)}")
            return None
        return value.strip()

    def effect(self, item: dict[str, Any], base: Path) -> Effect | None:
        allowed = ", ".join(e.value for e in Effect)
        if "effect" not in item:
            self.problem(base, f"rule #{int(base[1]) + 1} has no 'effect'; allowed: {allowed}")
            return None
        value = item["effect"]
        if isinstance(value, str) and value in Effect._value2member_map_:
            return Effect(value)
        hint = suggest(value, [e.value for e in Effect]) if isinstance(value, str) else ""
        self.problem((*base, "effect"), f"unknown effect {show(value)}{hint}; allowed: {allowed}")
        return None

    def names(self, cond: dict[str, Any], path: Path, key: str) -> tuple[str, ...] | None:
        if key not in cond:
            return None
        value = cond[key]
        values = value if isinstance(value, list) else [value]
        if not values:
            self.problem((*path, key), f"'{key}' is an empty list; omit it to match any {key}")
            return None
        out: list[str] = []
        for i, v in enumerate(values):
            where = (*path, key, i) if isinstance(value, list) else (*path, key)
            if not isinstance(v, str) or not v.strip():
                self.problem(
                    where,
                    f"'{key}' must be a name or glob (a string) or a list of them, not {show(v)}",
                )
            else:
                out.append(v.strip())
        return tuple(out) if len(out) == len(values) else None

    def role_arns(self, cond: dict[str, Any], path: Path, key: str) -> tuple[str, ...] | None:
        values = self.names(cond, path, key)
        if values is None:
            return None
        bad = [v for v in values if not v.startswith("arn:")]
        for value in bad:
            self.problem(
                (*path, key),
                f"'{key}' must be an IAM role ARN or an ARN glob such as "
                f"arn:aws:iam::*:role/prod-*, not {show(value)}",
            )
        return None if bad else values

    def modes(self, cond: dict[str, Any], path: Path) -> tuple[Mode, ...] | None:
        names = self.names(cond, path, "mode")
        if names is None:
            return None
        allowed = [m.value for m in Mode]
        out: list[Mode] = []
        for name in names:
            if name not in allowed:
                self.problem(
                    (*path, "mode"),
                    f"unknown mode {show(name)}{suggest(name, allowed)}"
                    f"; allowed: {', '.join(allowed)}",
                )
            else:
                out.append(Mode(name))
        return tuple(out) if len(out) == len(names) else None

    def duration(self, item: dict[str, Any], path: Path) -> timedelta | None:
        if item.get("max_server_duration") is None:
            return None
        value = item["max_server_duration"]
        usage = "use a duration such as 15m, 1h or 900 (seconds), at most 12h"
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem(path, f"invalid max_server_duration {show(value)}; {usage}")
            return None
        try:
            td = parse_duration(str(value), what="max_server_duration")
        except SentinelError:
            self.problem(path, f"invalid max_server_duration {show(value)}; {usage}")
            return None
        if td <= timedelta(0) or td > _MAX_SERVER_DURATION:
            self.problem(path, f"max_server_duration {show(value)} is out of range; {usage}")
            return None
        return td
