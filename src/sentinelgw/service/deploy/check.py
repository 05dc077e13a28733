"""``sentinel tvm check``: what in the account would let someone go around the service.

Three findings, each naming the resource and what to fix:

- a protected role whose trust policy lets anyone but the service's role assume it, or lets the
  service do so without a ``sentinel.*`` SourceIdentity;
- a user or group policy (inline, or attached managed) that allows writing to the session
  table: a user who can write records can un-revoke their own session;
- the function, or its ``AWS_IAM`` Function URL, is missing.

The protected roles are those the execution role may assume (its ``SentinelService`` policy),
plus any named by the caller. A write grant is matched the way IAM matches: action and resource
wildcards, ``NotAction`` and ``NotResource``. Conditions are ignored, so a conditional grant is
reported too: the check errs towards a finding.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import (
    DeployClients,
    as_list,
    fetch,
    normalized,
    policy_document,
    run,
    statements,
)
from sentinelgw.service.policies import SOURCE_IDENTITY_PATTERN

# Actions that change items (or the table itself) in DynamoDB.
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
) -> list[Finding]:
    """Every finding for the deployment ``spec`` describes; empty when it is sound.

    ``allowed_writers`` are user or group names or ARNs that may write the table (the security
    team, when it revokes with its own IAM permissions).
    """
    findings = list(_function_findings(clients.lambda_, spec))
    roles = sorted(set(spec.protected_roles) | _deployed_protected_roles(clients.iam, spec))
    for arn in roles:
        findings += _trust_findings(clients.iam, spec, arn)
    findings += [
        f
        for f in _writer_findings(clients.iam, spec.table_arn)
        if not _allowed(f.resource, allowed_writers)
    ]
    return findings


def _function_findings(lam: Any, spec: s.DeploySpec) -> Iterator[Finding]:
    name = spec.function_name
    got = fetch("lambda", "GetFunction", lambda: lam.get_function(FunctionName=name), name)
    if got is None:
        yield Finding(
            spec.function_arn, "the function is missing; deploy it with 'sentinel init tvm --yes'"
        )
        return
    url = fetch(
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
    got = fetch(
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
    role = fetch("iam", "GetRole", lambda: iam.get_role(RoleName=name), arn)
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


def _writer_findings(iam: Any, table_arn: str) -> Iterator[Finding]:
    details = _authorization_details(iam)
    managed = {p["Arn"]: _default_document(p) for p in details["Policies"]}
    for kind, items, inline_key in (
        ("user", details["UserDetailList"], "UserPolicyList"),
        ("group", details["GroupDetailList"], "GroupPolicyList"),
    ):
        for item in items:
            for policy in item.get(inline_key) or []:
                doc = policy_document(policy.get("PolicyDocument"))
                if grants_table_write(doc, table_arn):
                    yield _writer(kind, item, f"inline policy {policy.get('PolicyName')}")
            for attached in item.get("AttachedManagedPolicies") or []:
                policy_arn = str(attached.get("PolicyArn"))
                if policy_arn not in managed:
                    managed[policy_arn] = _managed_document(iam, policy_arn)
                if grants_table_write(managed[policy_arn], table_arn):
                    yield _writer(kind, item, f"managed policy {policy_arn}")


def _writer(kind: str, item: dict[str, Any], where: str) -> Finding:
    return Finding(
        str(item.get("Arn")),
        f"{kind} may write the session table through {where}; "
        "remove the grant (users call the service instead)",
    )


def grants_table_write(doc: dict[str, Any], table_arn: str) -> bool:
    """Whether an Allow statement of ``doc`` allows a write action on ``table_arn``."""
    for st in statements(doc):
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st:
            acts = [
                a
                for a in TABLE_WRITE_ACTIONS
                if not _any_match(st["NotAction"], a, ignore_case=True)
            ]
        else:
            acts = [
                a for a in TABLE_WRITE_ACTIONS if _any_match(st.get("Action"), a, ignore_case=True)
            ]
        if not acts:
            continue
        if "NotResource" in st:
            if not _any_match(st["NotResource"], table_arn):
                return True
        elif _any_match(st.get("Resource"), table_arn):
            return True
    return False


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


def _authorization_details(iam: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
    }
    paginator = iam.get_paginator("get_account_authorization_details")
    pages = run(
        "iam",
        "GetAccountAuthorizationDetails",
        lambda: list(paginator.paginate(Filter=["User", "Group", "LocalManagedPolicy"])),
        "the account",
    )
    for page in pages:
        for key, items in out.items():
            items.extend(page.get(key) or [])
    return out


def _default_document(policy: dict[str, Any]) -> dict[str, Any]:
    for version in policy.get("PolicyVersionList") or []:
        if version.get("IsDefaultVersion"):
            return policy_document(version.get("Document"))
    return {}


def _managed_document(iam: Any, policy_arn: str) -> dict[str, Any]:
    got = fetch("iam", "GetPolicy", lambda: iam.get_policy(PolicyArn=policy_arn), policy_arn)
    if got is None:
        return {}
    version_id = got["Policy"]["DefaultVersionId"]
    ver = run(
        "iam",
        "GetPolicyVersion",
        lambda: iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id),
        policy_arn,
    )
    return policy_document(ver["PolicyVersion"].get("Document"))


def _allowed(arn: str, allowed: frozenset[str]) -> bool:
    return arn in allowed or arn.rsplit("/", 1)[-1] in allowed


def _show(principal: Any) -> str:
    if principal is None:
        return "no principal (NotPrincipal)"
    if isinstance(principal, dict):
        return ", ".join(f"{k} {', '.join(v)}" for k, v in principal.items())
    return str(principal)
