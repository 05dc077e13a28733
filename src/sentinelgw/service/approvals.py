"""The ``approvals:`` and ``notifications:`` sections of the service document.

Example::

    approvals:
      identity_store_id: d-1234567890  # only with group approvers (IAM Identity Center)
      pending_expiry: 24h          # a pending request expires after this (default 24h)
      default_duration: 1h         # when the requester names none (default 1h)
      rules:                       # the first rule whose match holds decides who approves
        - name: prod
          match: {profile: prod-approve}        # profile and/or role_arn, as in policies
          approvers: [security, admins, "group:Prod Approvers"]  # users/globs, admins, groups
          approvals_needed: 1                   # distinct approvers (default 1)
          auto_approve:                         # optional: approved at once, logged as such
            - {user: oncall-*, time: {days: [saturday, sunday]}}
    notifications:
      sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:sentinel-requests
      webhook_url: https://hooks.example.com/services/T000/B000/XXXX

``admins`` among the approvers means the document's ``admins``. A requester never approves
their own request, whatever the rule says. A profile under ``require_approval`` that no rule
covers has no approver: its requests can only expire or be cancelled (``sentinel requests``
says so).

``group:NAME`` among the approvers is an IAM Identity Center group (its display name). It
needs ``identity_store_id`` under ``approvals:`` (and ``identity_store_region`` when the
identity store is in another region than the service). Only a caller the service confirmed as
an Identity Center user (:mod:`sentinelgw.service.caller`) can approve through a group; the
service asks the identity store whether that user is a member
(:mod:`sentinelgw.service.groups`) and refuses the approval when it cannot tell.

``webhook_url`` must be ``https``; plain ``http`` is accepted only for a loopback address
(the sandbox's receiver).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from sentinelgw.errors import PolicyInvalid, UsageError
from sentinelgw.policy.loader import policy_from_doc
from sentinelgw.policy.model import Rule
from sentinelgw.timeutil import parse_duration
from sentinelgw.yamlsrc import YamlDoc

DEFAULT_PENDING = timedelta(hours=24)
DEFAULT_DURATION = timedelta(hours=1)
ADMINS = "admins"
_APPROVAL_KEYS = (
    "pending_expiry",
    "default_duration",
    "rules",
    "identity_store_id",
    "identity_store_region",
)
GROUP_PREFIX = "group:"
STORE_ID = re.compile(
    r"^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_GROUP_NAME = re.compile(r"^[\w+=,.@ -]{1,128}$")
_RULE_KEYS = ("name", "match", "approvers", "approvals_needed", "auto_approve")
_MATCH_KEYS = ("profile", "role_arn")
_AUTO_KEYS = ("user", "time")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    name: str
    match: Rule  # profile / role_arn conditions, evaluated with the policy's own matcher
    approvers: tuple[str, ...]  # user globs; ADMINS stands for the document's admins
    approvals_needed: int = 1
    auto_approve: tuple[Rule, ...] = ()  # user / time conditions


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    rules: tuple[ApprovalRule, ...] = ()
    pending_expiry: timedelta = DEFAULT_PENDING
    default_duration: timedelta = DEFAULT_DURATION
    identity_store_id: str | None = None
    identity_store_region: str | None = None

    def groups(self) -> tuple[str, ...]:
        """Every Identity Center group named as an approver (their display names)."""
        names = {
            a[len(GROUP_PREFIX) :]
            for rule in self.rules
            for a in rule.approvers
            if a.startswith(GROUP_PREFIX)
        }
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    sns_topic_arn: str | None = None
    webhook_url: str | None = None


def is_approver(rule: ApprovalRule | None, user: str, admins: tuple[str, ...]) -> bool:
    """True when ``user`` may approve under ``rule`` by name (the requester check is separate;
    group approvers are checked by :func:`sentinelgw.service.groups.may_approve`)."""
    if rule is None:
        return False
    for pattern in rule.approvers:
        if pattern.startswith(GROUP_PREFIX):
            continue
        if pattern == ADMINS:
            if any(fnmatchcase(user, a) for a in admins):
                return True
        elif fnmatchcase(user, pattern):
            return True
    return False


def parse_approvals(doc: YamlDoc, raw: Any) -> ApprovalPolicy:
    if raw is None:
        return ApprovalPolicy()
    if not isinstance(raw, dict) or not set(raw) <= set(_APPROVAL_KEYS):
        raise PolicyInvalid(
            f"{doc.where(('approvals',))}: 'approvals' takes {', '.join(_APPROVAL_KEYS)}"
        )
    pending = _duration(doc, ("approvals", "pending_expiry"), raw.get("pending_expiry"))
    default = _duration(doc, ("approvals", "default_duration"), raw.get("default_duration"))
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        raise PolicyInvalid(f"{doc.where(('approvals', 'rules'))}: 'rules' must be a list")
    rules = tuple(_rule(doc, i, r) for i, r in enumerate(rules_raw))
    store, region = raw.get("identity_store_id"), raw.get("identity_store_region")
    if store is not None and (not isinstance(store, str) or not STORE_ID.match(store)):
        raise PolicyInvalid(
            f"{doc.where(('approvals', 'identity_store_id'))}: identity_store_id must be the "
            "identity store's id, like d-1234567890 (IAM Identity Center settings)"
        )
    if region is not None and (not isinstance(region, str) or not _REGION.match(region)):
        raise PolicyInvalid(
            f"{doc.where(('approvals', 'identity_store_region'))}: identity_store_region must "
            "be a region name, like eu-west-1"
        )
    policy = ApprovalPolicy(
        rules=rules,
        pending_expiry=pending or DEFAULT_PENDING,
        default_duration=default or DEFAULT_DURATION,
        identity_store_id=store,
        identity_store_region=region,
    )
    if policy.groups() and store is None:
        raise PolicyInvalid(
            f"{doc.where(('approvals',))}: group approvers need identity_store_id under "
            "'approvals' (the Identity Center identity store the service asks)"
        )
    return policy


def _rule(doc: YamlDoc, index: int, raw: Any) -> ApprovalRule:
    path = ("approvals", "rules", index)
    where = doc.where(path)
    if not isinstance(raw, dict) or not set(raw) <= set(_RULE_KEYS):
        raise PolicyInvalid(f"{where}: an approval rule takes {', '.join(_RULE_KEYS)}")
    name = raw.get("name") or f"approval-{index + 1}"
    if not isinstance(name, str) or not re.match(r"^[\w.-]{1,64}$", name):
        raise PolicyInvalid(f"{where}: invalid approval rule name {name!r}")
    match = raw.get("match") or {}
    if not isinstance(match, dict) or not set(match) <= set(_MATCH_KEYS):
        raise PolicyInvalid(f"{where}: an approval rule matches on profile and/or role_arn")
    approvers = raw.get("approvers")
    given = approvers if isinstance(approvers, list) else [approvers]
    values = [v.strip() for v in given if isinstance(v, str) and v.strip()]
    if not values or len(values) != len(given):
        raise PolicyInvalid(
            f"{where}: 'approvers' must list user names or globs, {ADMINS!r}, and/or "
            "group:<Identity Center group>"
        )
    for v in values:
        if v.startswith(GROUP_PREFIX) and not _GROUP_NAME.match(v[len(GROUP_PREFIX) :]):
            raise PolicyInvalid(
                f"{where}: {v!r} is not a group approver; write group:<Identity Center group "
                "display name>"
            )
    needed = raw.get("approvals_needed", 1)
    if not isinstance(needed, int) or isinstance(needed, bool) or not 1 <= needed <= 10:
        raise PolicyInvalid(f"{where}: approvals_needed must be a whole number from 1 to 10")
    auto_raw = raw.get("auto_approve") or []
    autos = auto_raw if isinstance(auto_raw, list) else [auto_raw]
    for cond in autos:
        if not isinstance(cond, dict) or not cond or not set(cond) <= set(_AUTO_KEYS):
            raise PolicyInvalid(f"{where}: each auto_approve condition takes user and/or time")
    rules = _conditions(doc, name, [match, *autos])
    return ApprovalRule(
        name=name,
        match=rules[0],
        approvers=tuple(values),
        approvals_needed=needed,
        auto_approve=tuple(rules[1:]),
    )


def _conditions(doc: YamlDoc, name: str, matches: list[dict[str, Any]]) -> list[Rule]:
    """Each ``match`` as a policy rule, validated and evaluated by the policy's own code."""
    data = {
        "policies": [
            {"name": f"{name}-{i}", "match": m, "effect": "allow"} for i, m in enumerate(matches)
        ]
    }
    policy = policy_from_doc(YamlDoc(data=data, filename=doc.filename, lines={}))
    return list(policy.rules)


def _duration(doc: YamlDoc, path: tuple[str, ...], raw: Any) -> timedelta | None:
    if raw is None:
        return None

    try:
        value = parse_duration(str(raw), what=path[-1])
    except (UsageError, ValueError):
        value = None
    if value is None or not timedelta(seconds=10) <= value <= timedelta(days=30):
        raise PolicyInvalid(
            f"{doc.where(path)}: {path[-1]} must be a duration from 10s to 30d, like 24h"
        )
    return value


def parse_notifications(doc: YamlDoc, raw: Any) -> NotifyConfig:
    if raw is None:
        return NotifyConfig()
    keys = ("sns_topic_arn", "webhook_url")
    if not isinstance(raw, dict) or not set(raw) <= set(keys):
        raise PolicyInvalid(f"{doc.where(('notifications',))}: 'notifications' takes {keys}")
    topic = raw.get("sns_topic_arn")
    if topic is not None and (not isinstance(topic, str) or not SNS_ARN.match(topic)):
        raise PolicyInvalid(
            f"{doc.where(('notifications', 'sns_topic_arn'))}: sns_topic_arn must be "
            "arn:aws:sns:<region>:<account>:<topic>"
        )
    url = raw.get("webhook_url")
    if url is not None:
        check_webhook_url(url, doc.where(("notifications", "webhook_url")))
    return NotifyConfig(sns_topic_arn=topic, webhook_url=url)


def check_webhook_url(url: Any, where: str) -> None:
    """https, or plain http to a loopback address only (the sandbox's receiver)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    ok = (
        parts is not None
        and bool(parts.hostname)
        and (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK))
        and not parts.username
        and len(url) <= 2048
    )
    if not ok:
        raise PolicyInvalid(
            f"{where}: webhook_url must be an https URL (plain http only to a loopback address)"
        )
