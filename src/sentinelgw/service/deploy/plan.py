"""What ``sentinel init tvm`` would change: desired state against the account, as a diff.

:func:`compute_plan` only reads. Each :class:`Change` names one resource, what would happen to
it, and the lines that show the difference (a unified diff for policy documents). Problems are
what Sentinel will not fix by itself (a table with another schema, a protected role that does
not exist); :mod:`.apply` refuses to run while there are any.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import DeployClients, fetch, normalized, policy_document
from sentinelgw.service.deploy.package import HANDLER_FILE, LambdaPackage
from sentinelgw.service.policies import protected_role_trust_policy, service_role_policy

CREATE = "create"
UPDATE = "update"


@dataclass(frozen=True)
class Change:
    """One resource to create or update. ``kind`` tells :mod:`.apply` what to call."""

    kind: str
    target: str
    action: str
    details: tuple[str, ...] = ()

    def headline(self) -> str:
        sign = "+" if self.action == CREATE else "~"
        return f"{sign} {self.action} {self.kind.replace('_', ' ')} {self.target}"


@dataclass(frozen=True)
class Plan:
    """The changes a deployment needs, in the order they must be made."""

    spec: s.DeploySpec
    changes: tuple[Change, ...]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        """The plan as text: one headline per change, its details indented."""
        out: list[str] = []
        for change in self.changes:
            out.append(change.headline())
            out += [f"      {line}" for line in change.details]
        return out


def desired_service_policy(spec: s.DeploySpec) -> dict[str, Any]:
    return service_role_policy(
        list(spec.protected_roles),
        spec.table_arn,
        spec.parameter_arn,
        log_group_arn=spec.log_group_arn,
    )


def desired_function_config(spec: s.DeploySpec) -> dict[str, Any]:
    """The function settings Sentinel manages, as UpdateFunctionConfiguration takes them."""
    return {
        "Runtime": s.RUNTIME,
        "Handler": s.HANDLER,
        "Role": spec.role_arn,
        "Timeout": s.TIMEOUT_SECONDS,
        "MemorySize": s.MEMORY_MB,
        "Environment": {"Variables": spec.environment()},
    }


def compute_plan(clients: DeployClients, spec: s.DeploySpec, package: LambdaPackage) -> Plan:
    """Read the account and list what differs from ``spec``; changes nothing."""
    from sentinelgw.sessions.schema import ensure_table

    changes: list[Change] = []
    problems: list[str] = []
    warnings: list[str] = []
    if not package.has_handler:
        warnings.append(
            f"the installed sentinelgw has no {HANDLER_FILE}: the function would "
            "fail when invoked; install a sentinelgw release with the service"
        )
    changes += _role_changes(clients.iam, spec)
    report = ensure_table(clients.dynamodb, spec.table, plan=True)
    problems += [f"session table {spec.table}: {d}" for d in report.differences]
    if report.actions:
        changes.append(
            Change("table", spec.table, UPDATE if report.exists else CREATE, tuple(report.actions))
        )
    changes += _parameter_changes(clients.ssm, spec)
    changes += _function_changes(clients.lambda_, spec, package)
    for arn in spec.protected_roles:
        change, problem = _trust_change(clients.iam, spec, arn)
        changes += [change] if change else []
        problems += [problem] if problem else []
    return Plan(spec, tuple(changes), tuple(problems), tuple(warnings))


def _role_changes(iam: Any, spec: s.DeploySpec) -> list[Change]:
    name = spec.role_name
    role = fetch("iam", "GetRole", lambda: iam.get_role(RoleName=name), name)
    want_policy = desired_service_policy(spec)
    if role is None:
        return [
            Change(
                "role",
                name,
                CREATE,
                (
                    "trusted by lambda.amazonaws.com only",
                    f"inline policy {s.SERVICE_POLICY_NAME}:",
                    *json.dumps(want_policy, indent=2).splitlines(),
                ),
            )
        ]
    changes: list[Change] = []
    have_trust = policy_document(role["Role"].get("AssumeRolePolicyDocument"))
    diff = document_diff(have_trust, s.lambda_trust_policy())
    if diff:
        changes.append(Change("role_trust_policy", name, UPDATE, diff))
    got = fetch(
        "iam",
        "GetRolePolicy",
        lambda: iam.get_role_policy(RoleName=name, PolicyName=s.SERVICE_POLICY_NAME),
        name,
    )
    if got is None:
        changes.append(
            Change(
                "role_policy",
                f"{name}/{s.SERVICE_POLICY_NAME}",
                CREATE,
                tuple(json.dumps(want_policy, indent=2).splitlines()),
            )
        )
    else:
        diff = document_diff(policy_document(got.get("PolicyDocument")), want_policy)
        if diff:
            changes.append(Change("role_policy", f"{name}/{s.SERVICE_POLICY_NAME}", UPDATE, diff))
    return changes


def _parameter_changes(ssm: Any, spec: s.DeploySpec) -> list[Change]:
    name = spec.policy_parameter
    found = fetch("ssm", "GetParameter", lambda: ssm.get_parameter(Name=name), name)
    if found is not None:
        return []  # its value is the operator's policy: never overwritten
    return [
        Change(
            "parameter",
            name,
            CREATE,
            ("String, first value: a policy that denies every request until you replace it",),
        )
    ]


def _function_changes(lam: Any, spec: s.DeploySpec, package: LambdaPackage) -> list[Change]:
    name = spec.function_name
    got = fetch("lambda", "GetFunction", lambda: lam.get_function(FunctionName=name), name)
    url_change = _url_change(lam, spec, exists=got is not None)
    if got is None:
        want = desired_function_config(spec)
        return [
            Change(
                "function",
                name,
                CREATE,
                (
                    f"{s.RUNTIME} on {s.ARCHITECTURE}, handler {s.HANDLER}",
                    f"{want['MemorySize']} MB, timeout {want['Timeout']} s, role {spec.role_arn}",
                    f"code: {len(package.files)} files, {len(package.data)} bytes, "
                    f"sha256 {package.code_sha256}",
                    *[f"env {k}={v}" for k, v in sorted(spec.environment().items())],
                ),
            ),
            *url_change,
        ]
    config = got["Configuration"]
    changes: list[Change] = []
    if config.get("CodeSha256") != package.code_sha256:
        changes.append(
            Change(
                "function_code",
                name,
                UPDATE,
                (f"sha256 {config.get('CodeSha256')} -> {package.code_sha256}",),
            )
        )
    have = {k: config.get(k) for k in desired_function_config(spec)}
    have["Environment"] = {"Variables": (config.get("Environment") or {}).get("Variables", {})}
    lines = [
        f"{k}: {_show(have[k])} -> {_show(v)}"
        for k, v in desired_function_config(spec).items()
        if have[k] != v
    ]
    if lines:
        changes.append(Change("function_configuration", name, UPDATE, tuple(lines)))
    if config.get("Architectures", [s.ARCHITECTURE]) != [s.ARCHITECTURE]:
        changes.append(
            Change(
                "function_code",
                name,
                UPDATE,
                (f"architecture {config.get('Architectures')} -> [{s.ARCHITECTURE!r}]",),
            )
        )
    return [*_dedupe(changes), *url_change]


def _url_change(lam: Any, spec: s.DeploySpec, *, exists: bool) -> list[Change]:
    name = spec.function_name
    url = None
    if exists:
        url = fetch(
            "lambda",
            "GetFunctionUrlConfig",
            lambda: lam.get_function_url_config(FunctionName=name),
            name,
        )
    if url is None:
        return [Change("function_url", name, CREATE, (f"AuthType {s.URL_AUTH_TYPE}",))]
    if url.get("AuthType") != s.URL_AUTH_TYPE:
        return [
            Change(
                "function_url",
                name,
                UPDATE,
                (f"AuthType {url.get('AuthType')} -> {s.URL_AUTH_TYPE}",),
            )
        ]
    return []


def _trust_change(iam: Any, spec: s.DeploySpec, arn: str) -> tuple[Change | None, str | None]:
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if not arn.startswith("arn:aws") or ":role/" not in arn:
        return None, f"--protect-role {arn}: not a role ARN (arn:aws:iam::<account>:role/<name>)"
    if account != spec.account:
        return None, (
            f"protected role {arn} is in account {account}, not {spec.account}: "
            "set its trust policy from that account"
        )
    name = s.role_name_of(arn)
    role = fetch("iam", "GetRole", lambda: iam.get_role(RoleName=name), arn)
    if role is None:
        return None, f"protected role {arn} does not exist"
    have = policy_document(role["Role"].get("AssumeRolePolicyDocument"))
    diff = document_diff(have, protected_role_trust_policy(spec.role_arn))
    return (Change("trust_policy", arn, UPDATE, diff) if diff else None), None


def document_diff(have: dict[str, Any], want: dict[str, Any]) -> tuple[str, ...]:
    """A unified diff between two policy documents; empty when they are equivalent."""
    if normalized(have) == normalized(want):
        return ()
    old = json.dumps(normalized(have), indent=2, sort_keys=True).splitlines()
    new = json.dumps(normalized(want), indent=2, sort_keys=True).splitlines()
    return tuple(difflib.unified_diff(old, new, "current", "desired", n=2, lineterm=""))


def _dedupe(changes: list[Change]) -> list[Change]:
    merged: dict[tuple[str, str], Change] = {}
    for c in changes:
        key = (c.kind, c.target)
        prior = merged.get(key)
        merged[key] = (
            c if prior is None else Change(c.kind, c.target, c.action, prior.details + c.details)
        )
    return list(merged.values())


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
