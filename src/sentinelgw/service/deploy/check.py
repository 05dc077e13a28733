"""``sentinel tvm check``: what in the account would let someone go around the service.

Each finding names the resource and what to fix:

- a protected role whose trust policy lets anyone but the service's role assume it, or lets the
  service do so without a ``sentinel.*`` SourceIdentity;
- a user, group or role that may write the session table, change a protected role's trust or
  inline policies, delete a revocation policy, or assume a protected role outside the service,
  with the statement that grants it (:mod:`.principals`);
- the function, or its ``AWS_IAM`` Function URL, is missing.

The protected roles are those the execution role may assume (its ``SentinelService`` policy),
plus any named by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import (
    DeployClients,
    as_list,
    normalized,
    policy_document,
    read_or_none,
    statements,
)
from sentinelgw.service.deploy.drift import DriftUnavailable, detect_drift
from sentinelgw.service.deploy.principals import (
    bypass_grants,
    exempt,
    read_account,
)
from sentinelgw.service.deploy.stack import stack_name
from sentinelgw.service.policies import SOURCE_IDENTITY_PATTERN


@dataclass(frozen=True)
class Finding:
    """One problem: what is wrong, on which resource."""

    resource: str
    problem: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.problem}"


def check_deployment(
    clients: DeployClients,
    spec: s.DeploySpec,
    *,
    allowed_writers: frozenset[str] = frozenset(),
    notes: list[str] | None = None,
) -> list[Finding]:
    """Every finding for the deployment ``spec`` describes; empty when it is sound.

    ``allowed_writers`` are user, group or role names or ARNs whose grants are accepted (the
    security team, when it revokes with its own IAM permissions). What could not be checked
    is appended to ``notes``.
    """
    findings = list(_function_findings(clients.lambda_, spec))
    findings += _drift_findings(clients, spec, notes if notes is not None else [])
    roles = sorted(set(spec.protected_roles) | _deployed_protected_roles(clients.iam, spec))
    for arn in roles:
        findings += _trust_findings(clients.iam, spec, arn)
    account = read_account(clients.iam)
    grants = bypass_grants(
        account,
        table_arn=spec.table_arn,
        protected_roles=roles,
        service_role_arn=spec.role_arn,
        account_id=spec.account,
    )
    findings += [
        Finding(g.principal.arn, g.describe())
        for g in grants
        if not exempt(g, account, allowed_writers)
    ]
    return findings


def _drift_findings(clients: DeployClients, spec: s.DeploySpec, notes: list[str]) -> list[Finding]:
    """Resources of the stack changed or deleted outside CloudFormation."""
    cf = clients.cloudformation
    if cf is None:
        return []
    name = stack_name(spec)
    try:
        drifted = detect_drift(cf, name)
    except DriftUnavailable as exc:
        notes.append(f"drift of stack {name} not checked: {exc}")
        return []
    return [
        Finding(
            f"stack {name} resource {logical}",
            f"{kind} was {status.lower()} outside CloudFormation; put it back as the template "
            "has it (or update the stack)",
        )
        for logical, kind, status in drifted
    ]


def _function_findings(lam: Any, spec: s.DeploySpec) -> Iterator[Finding]:
    name = spec.function_name
    got = read_or_none("lambda", "GetFunction", lambda: lam.get_function(FunctionName=name), name)
    if got is None:
        yield Finding(
            spec.function_arn, "the function is missing; deploy it with 'sentinel init tvm --yes'"
        )
        return
    url = read_or_none(
        "lambda",
        "GetFunctionUrlConfig",
        lambda: lam.get_function_url_config(FunctionName=name),
        name,
    )
    if url is None:
        yield Finding(spec.function_arn, "the function has no Function URL")
    elif url.get("AuthType") != s.URL_AUTH_TYPE:
        yield Finding(
            spec.function_arn,
            f"the Function URL has AuthType {url.get('AuthType')}, expected {s.URL_AUTH_TYPE}",
        )


def _deployed_protected_roles(iam: Any, spec: s.DeploySpec) -> set[str]:
    got = read_or_none(
        "iam",
        "GetRolePolicy",
        lambda: iam.get_role_policy(RoleName=spec.role_name, PolicyName=s.SERVICE_POLICY_NAME),
        spec.role_name,
    )
    if got is None:
        return set()
    doc = policy_document(got.get("PolicyDocument"))
    return {
        str(r)
        for st in statements(doc)
        if "sts:AssumeRole" in as_list(st.get("Action"))
        for r in as_list(st.get("Resource"))
        if ":role/" in str(r)
    }


def _trust_findings(iam: Any, spec: s.DeploySpec, arn: str) -> list[Finding]:
    name = s.role_name_of(arn)
    role = read_or_none("iam", "GetRole", lambda: iam.get_role(RoleName=name), arn)
    if role is None:
        return [Finding(arn, "the protected role does not exist")]
    doc = normalized(policy_document(role["Role"].get("AssumeRolePolicyDocument")))
    fix = f"; fix it with: sentinel init tvm --protect-role {arn}"
    findings: list[Finding] = []
    for st in doc["Statement"]:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal != {"AWS": [spec.role_arn]}:
            findings.append(
                Finding(
                    arn,
                    f"the trust policy lets {_show(principal)} assume "
                    f"the role, not only {spec.role_arn}{fix}",
                )
            )
        elif not _requires_sentinel_identity(st):
            findings.append(
                Finding(
                    arn,
                    "the trust policy does not require a SourceIdentity "
                    f"matching {SOURCE_IDENTITY_PATTERN!r}{fix}",
                )
            )
    return findings


def _requires_sentinel_identity(statement: dict[str, Any]) -> bool:
    cond = statement.get("Condition") or {}
    like = cond.get("StringLike") or {}
    values = as_list(like.get("sts:SourceIdentity"))
    return bool(values) and all(str(v) == SOURCE_IDENTITY_PATTERN for v in values)


def _show(principal: Any) -> str:
    if principal is None:
        return "no principal (NotPrincipal)"
    if isinstance(principal, dict):
        return ", ".join(f"{k} {', '.join(v)}" for k, v in principal.items())
    return str(principal)
