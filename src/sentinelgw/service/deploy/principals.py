"""Who in the account could go around the credential service, and through which statement.

``tvm check`` reads every user, group and role with their inline and attached managed
policies (``GetAccountAuthorizationDetails``) and reports each one that may:

- **write the session table** (a written record can un-revoke a session);
- **change a protected role's trust policy** (``iam:UpdateAssumeRolePolicy``) or **its inline
  policies** (``iam:PutRolePolicy``): let someone else in, or rewrite the Deny on revoked
  sessions;
- **delete a revocation policy** (``iam:DeleteRolePolicy`` on a protected role);
- **assume a protected role outside the service**: its trust policy trusts the account and an
  identity policy grants ``sts:AssumeRole`` on it. (A trust policy that names someone else
  directly is a finding of its own.)

A grant is matched as IAM matches it (wildcards, ``NotAction``, ``NotResource``); conditions
are not evaluated, so a conditional grant is reported too. A user also holds what their groups
hold. A role is reported with who may assume it; a role that only users may assume counts as
theirs, so ``--allow-writer`` exempts it when every one of them is exempt (or the role itself
is named). The service's own execution role is never reported.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.inert import visible
from sentinelgw.service.deploy.aws import as_list, policy_document, read_or_none, statements

TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
)
TRUST_ACTIONS = ("iam:UpdateAssumeRolePolicy",)
INLINE_ACTIONS = ("iam:PutRolePolicy",)
DELETE_REVOCATION_ACTIONS = ("iam:DeleteRolePolicy",)
ASSUME_ACTIONS = ("sts:AssumeRole",)


@dataclass
class Principal:
    """A user, group or role, and the policy documents it holds (``where`` → document)."""

    kind: str
    name: str
    arn: str
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    trust: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """A principal may do something, because of one statement."""

    principal: Principal
    abilities: tuple[str, ...]
    where: str
    statement: dict[str, Any]
    assumed_by: tuple[str, ...] = ()

    def describe(self) -> str:
        who = self.principal.kind
        if self.principal.kind == "role":
            who += f" (assumable by {', '.join(self.assumed_by) or 'nobody'})"
        text = json.dumps(self.statement, sort_keys=True, separators=(",", ":"))
        return (
            f"{who} may {', '.join(self.abilities)} through {self.where}: "
            f"{visible(text)}; remove the grant, or name it with --allow-writer"
        )


@dataclass(frozen=True)
class Account:
    """The account's principals, as ``GetAccountAuthorizationDetails`` gives them."""

    users: dict[str, Principal]
    groups: dict[str, Principal]
    roles: dict[str, Principal]

    def every(self) -> list[Principal]:
        return [*self.users.values(), *self.groups.values(), *self.roles.values()]


def read_account(iam: Any) -> Account:
    """Every user, group and role with its documents (one paginated read, plus managed ones)."""
    paginator = iam.get_paginator("get_account_authorization_details")
    with aws_call("iam", "GetAccountAuthorizationDetails", "the account"):
        pages = list(paginator.paginate(Filter=["User", "Group", "Role", "LocalManagedPolicy"]))
    managed: dict[str, dict[str, Any]] = {}
    items: dict[str, list[dict[str, Any]]] = {"users": [], "groups": [], "roles": []}
    for page in pages:
        for policy in page.get("Policies") or []:
            managed[str(policy.get("Arn"))] = _default_document(policy)
        items["users"] += page.get("UserDetailList") or []
        items["groups"] += page.get("GroupDetailList") or []
        items["roles"] += page.get("RoleDetailList") or []

    def documents(item: dict[str, Any], inline_key: str) -> list[tuple[str, dict[str, Any]]]:
        out = [
            (f"inline policy {p.get('PolicyName')}", policy_document(p.get("PolicyDocument")))
            for p in item.get(inline_key) or []
        ]
        for attached in item.get("AttachedManagedPolicies") or []:
            arn = str(attached.get("PolicyArn"))
            if arn not in managed:
                managed[arn] = _managed_document(iam, arn)
            out.append((f"managed policy {arn}", managed[arn]))
        return out

    users = {
        str(u.get("UserName")): Principal(
            "user",
            str(u.get("UserName")),
            str(u.get("Arn")),
            documents(u, "UserPolicyList"),
            groups=[str(g) for g in u.get("GroupList") or []],
        )
        for u in items["users"]
    }
    groups = {
        str(g.get("GroupName")): Principal(
            "group", str(g.get("GroupName")), str(g.get("Arn")), documents(g, "GroupPolicyList")
        )
        for g in items["groups"]
    }
    roles = {
        str(r.get("RoleName")): Principal(
            "role",
            str(r.get("RoleName")),
            str(r.get("Arn")),
            documents(r, "RolePolicyList"),
            trust=policy_document(r.get("AssumeRolePolicyDocument")),
        )
        for r in items["roles"]
    }
    return Account(users, groups, roles)


def bypass_grants(
    account: Account,
    *,
    table_arn: str,
    protected_roles: list[str],
    service_role_arn: str,
    account_id: str,
) -> list[Grant]:
    """Every statement that lets a principal other than the service go around it."""
    targets: list[tuple[str, tuple[str, ...], str]] = [
        ("write the session table", TABLE_WRITE_ACTIONS, table_arn)
    ]
    for role in protected_roles:
        short = role.rsplit("/", 1)[-1]
        targets += [
            (f"change the trust policy of {short}", TRUST_ACTIONS, role),
            (f"change the inline policies of {short}", INLINE_ACTIONS, role),
            (f"delete a revocation policy of {short}", DELETE_REVOCATION_ACTIONS, role),
        ]
    trusting = {
        role
        for role in protected_roles
        if _trusts_account(account.roles.get(role.rsplit("/", 1)[-1]), account_id)
    }
    out: list[Grant] = []
    for principal in account.every():
        if principal.arn == service_role_arn:
            continue
        for where, doc in principal.documents:
            for st in statements(doc):
                if st.get("Effect") != "Allow":
                    continue
                abilities = [
                    what for what, actions, resource in targets if allows(st, actions, resource)
                ]
                if principal.kind != "group":
                    abilities += [
                        f"assume {role.rsplit('/', 1)[-1]} outside the service"
                        for role in sorted(trusting)
                        if allows(st, ASSUME_ACTIONS, role)
                    ]
                if abilities:
                    out.append(
                        Grant(
                            principal,
                            tuple(abilities),
                            where,
                            st,
                            assumed_by=_assumers(account, principal, account_id),
                        )
                    )
    return out


def exempt(grant: Grant, account: Account, allowed: frozenset[str]) -> bool:
    """Whether ``--allow-writer`` covers this grant's principal (a role through its users)."""
    principal = grant.principal
    if _named(principal, allowed):
        return True
    if principal.kind == "user":
        return any(
            _named(account.groups[g], allowed) for g in principal.groups if g in account.groups
        )
    if principal.kind == "role" and grant.assumed_by:
        users = [a for a in grant.assumed_by if a.startswith("user ")]
        if len(users) != len(grant.assumed_by):
            return False  # not only users: the role is not theirs
        return all(
            _named(account.users[u[5:]], allowed) if u[5:] in account.users else u[5:] in allowed
            for u in users
        )
    return False


def _named(principal: Principal, allowed: frozenset[str]) -> bool:
    return principal.arn in allowed or principal.name in allowed


def _assumers(account: Account, principal: Principal, account_id: str) -> tuple[str, ...]:
    """Who may assume a role, from its trust policy (and, for the account, identity grants)."""
    if principal.kind != "role":
        return ()
    out: list[str] = []
    for st in statements(principal.trust):
        if st.get("Effect") != "Allow":
            continue
        if not any(
            _any_match(a, "sts:AssumeRole", ignore_case=True)
            or str(a).lower().startswith("sts:assumerolewith")
            for a in as_list(st.get("Action"))
        ):
            continue
        raw = st.get("Principal")
        if raw == "*":
            out.append("anyone")
            continue
        if not isinstance(raw, dict):
            continue
        for kind, values in raw.items():
            for value in as_list(values):
                out += _who(account, str(kind), str(value), principal.arn, account_id)
    return tuple(dict.fromkeys(out))


def _who(account: Account, kind: str, value: str, role_arn: str, account_id: str) -> list[str]:
    if kind != "AWS":
        return [f"{kind.lower()} {value}"]
    if value == "*":
        return ["anyone"]
    if value in (account_id, f"arn:aws:iam::{account_id}:root"):
        return [
            f"{p.kind} {p.name}"
            for p in [*account.users.values(), *account.roles.values()]
            if p.arn != role_arn and _holds(account, p, ASSUME_ACTIONS, role_arn)
        ]
    if ":user/" in value:
        return [f"user {value.rsplit('/', 1)[-1]}"]
    if ":role/" in value or ":assumed-role/" in value:
        return [
            f"role {value.split('/')[1] if ':assumed-role/' in value else value.rsplit('/', 1)[-1]}"
        ]
    return [f"account {value}"]


def _holds(account: Account, principal: Principal, actions: tuple[str, ...], resource: str) -> bool:
    docs = list(principal.documents)
    for g in principal.groups:
        if g in account.groups:
            docs += account.groups[g].documents
    return any(
        st.get("Effect") == "Allow" and allows(st, actions, resource)
        for _, doc in docs
        for st in statements(doc)
    )


def _trusts_account(role: Principal | None, account_id: str) -> bool:
    if role is None:
        return False
    for st in statements(role.trust):
        raw = st.get("Principal")
        if st.get("Effect") != "Allow" or not isinstance(raw, dict):
            continue
        values = [str(v) for v in as_list(raw.get("AWS"))]
        if account_id in values or f"arn:aws:iam::{account_id}:root" in values:
            return True
    return False


def allows(statement: dict[str, Any], actions: tuple[str, ...], resource: str) -> bool:
    """Whether an Allow statement allows one of ``actions`` on ``resource``."""
    if "NotAction" in statement:
        acts = [a for a in actions if not _any_match(statement["NotAction"], a, ignore_case=True)]
    else:
        acts = [a for a in actions if _any_match(statement.get("Action"), a, ignore_case=True)]
    if not acts:
        return False
    if "NotResource" in statement:
        return not _any_match(statement["NotResource"], resource)
    return _any_match(statement.get("Resource"), resource)


def grants_table_write(doc: dict[str, Any], table_arn: str) -> bool:
    """Whether an Allow statement of ``doc`` allows a write action on ``table_arn``."""
    return any(
        st.get("Effect") == "Allow" and allows(st, TABLE_WRITE_ACTIONS, table_arn)
        for st in statements(doc)
    )


def _any_match(patterns: Any, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character."""
    for pattern in as_list(patterns):
        text = str(pattern).replace("[", "[[]")  # '[' is literal in IAM, special in fnmatch
        if ignore_case:
            text, subject = text.lower(), value.lower()
        else:
            subject = value
        if fnmatch.fnmatchcase(subject, text):
            return True
    return False


def _default_document(policy: dict[str, Any]) -> dict[str, Any]:
    for version in policy.get("PolicyVersionList") or []:
        if version.get("IsDefaultVersion"):
            return policy_document(version.get("Document"))
    return {}


def _managed_document(iam: Any, policy_arn: str) -> dict[str, Any]:
    got = read_or_none("iam", "GetPolicy", lambda: iam.get_policy(PolicyArn=policy_arn), policy_arn)
    if got is None:
        return {}
    version_id = got["Policy"]["DefaultVersionId"]
    with aws_call("iam", "GetPolicyVersion", policy_arn):
        ver = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id)
    return policy_document(ver["PolicyVersion"].get("Document"))
