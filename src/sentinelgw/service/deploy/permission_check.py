"""``sentinel permissions check``: does a principal have what :mod:`.permissions` says it
needs? IAM's policy simulator when the caller may use it, else its own policies read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinelgw.service.deploy.aws import read_or_none, statements
from sentinelgw.service.deploy.permissions import Target, policy_for
from sentinelgw.service.deploy.principals import Account, allows

PASSED_TO_LAMBDA = [
    {
        "ContextKeyName": "iam:PassedToService",
        "ContextKeyValues": ["lambda.amazonaws.com"],
        "ContextKeyType": "string",
    }
]


@dataclass(frozen=True)
class Need:
    """One action on one resource, from one statement of a principal's policy."""

    sid: str
    action: str
    resource: str


@dataclass(frozen=True)
class Verdict:
    need: Need
    allowed: bool


def needs(principal: str, target: Target) -> list[Need]:
    return [
        Need(str(st.get("Sid", "")), str(action), str(resource))
        for st in policy_for(principal, target)["Statement"]
        for action in st["Action"]
        for resource in st["Resource"]
    ]


def principal_arn(iam: Any, identity_arn: str) -> str:
    """The IAM ARN behind a caller identity (an assumed-role session → its role)."""
    if ":assumed-role/" not in identity_arn:
        return identity_arn
    account = identity_arn.split(":")[4]
    name = identity_arn.split(":assumed-role/", 1)[1].split("/")[0]
    got = read_or_none("iam", "GetRole", lambda: iam.get_role(RoleName=name), name)
    if got and got.get("Role", {}).get("Arn"):
        return str(got["Role"]["Arn"])  # with its path, which SimulatePrincipalPolicy needs
    return f"arn:aws:iam::{account}:role/{name}"


def simulate(iam: Any, arn: str, wanted: list[Need]) -> list[Verdict]:
    """Ask IAM's policy simulator; raises when the caller may not use it."""
    by_resource: dict[str, list[Need]] = {}
    for need in wanted:
        by_resource.setdefault(need.resource, []).append(need)
    decisions: dict[tuple[str, str], bool] = {}
    for resource, items in by_resource.items():
        actions = sorted({n.action for n in items})
        context = PASSED_TO_LAMBDA if "iam:PassRole" in actions else []
        paginator = iam.get_paginator("simulate_principal_policy")
        pages = paginator.paginate(
            PolicySourceArn=arn,
            ActionNames=actions,
            ResourceArns=[resource],
            ContextEntries=context,
        )
        for page in pages:
            for result in page.get("EvaluationResults") or []:
                key = (str(result.get("EvalActionName")), resource)
                decisions[key] = result.get("EvalDecision") == "allowed"
    return [Verdict(n, decisions.get((n.action, n.resource), False)) for n in wanted]


def evaluate_read(account: Account, arn: str, wanted: list[Need]) -> list[Verdict]:
    """Evaluate the principal's own policies (and its groups'), conditions not evaluated.

    An Allow that matches grants; any matching Deny refuses. This is what is left when the
    simulator cannot be used: it knows no SCP, permission boundary or resource policy.
    """
    found = next((p for p in account.every() if p.arn == arn and p.kind != "group"), None)
    if found is None:
        return [Verdict(n, False) for n in wanted]
    docs = list(found.documents)
    for g in found.groups:
        if g in account.groups:
            docs += account.groups[g].documents
    sts = [st for _, doc in docs for st in statements(doc)]
    out: list[Verdict] = []
    for need in wanted:
        actions = (need.action,)
        denied = any(
            st.get("Effect") == "Deny" and allows(st, actions, need.resource) for st in sts
        )
        allowed = any(
            st.get("Effect") == "Allow" and allows(st, actions, need.resource) for st in sts
        )
        out.append(Verdict(need, allowed and not denied))
    return out
