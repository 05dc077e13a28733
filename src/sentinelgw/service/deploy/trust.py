"""The protected roles' trust policies: the step of ``init tvm`` that the stack cannot take.

A CloudFormation stack cannot edit a role it did not create, so after the stack is deployed
``init tvm --protect-role ARN`` sets each protected role's trust policy itself. Like the stack,
this step is shown first (a unified diff of the current and the new document) and made only
after confirmation. Problems stop it before anything changes: a role that does not exist, is not
a role ARN, or belongs to another account.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinelgw.awsclients import error_code
from sentinelgw.awserrors import aws_call
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import normalized, policy_document, read_or_none
from sentinelgw.service.policies import protected_role_trust_policy

# A role created a moment ago may not yet be valid as a principal in another role's trust policy.
IAM_PROPAGATION_SECONDS = 60.0


@dataclass(frozen=True)
class TrustChange:
    """A protected role whose trust policy differs from the one Sentinel sets."""

    role_arn: str
    diff: tuple[str, ...]

    def lines(self) -> list[str]:
        return [f"~ update trust policy {self.role_arn}", *(f"      {d}" for d in self.diff)]


def trust_changes(iam: Any, spec: s.DeploySpec) -> tuple[tuple[TrustChange, ...], tuple[str, ...]]:
    """(changes, problems) for the spec's protected roles; reads only."""
    changes: list[TrustChange] = []
    problems: list[str] = []
    for arn in spec.protected_roles:
        change, problem = _trust_change(iam, spec, arn)
        changes += [change] if change else []
        problems += [problem] if problem else []
    return tuple(changes), tuple(problems)


def apply_trust(
    iam: Any,
    spec: s.DeploySpec,
    changes: tuple[TrustChange, ...],
    *,
    on_done: Callable[[TrustChange], None] = lambda change: None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Replace each role's trust policy with the protected-role policy naming the service."""
    doc = json.dumps(protected_role_trust_policy(spec.role_arn))
    for change in changes:
        name, arn = s.role_name_of(change.role_arn), change.role_arn

        def update(name: str = name, arn: str = arn) -> Any:
            with aws_call("iam", "UpdateAssumeRolePolicy", arn):
                return iam.update_assume_role_policy(RoleName=name, PolicyDocument=doc)

        retry_while("MalformedPolicyDocument", update, sleep)
        on_done(change)


def retry_while(code: str, fn: Callable[[], Any], sleep: Callable[[float], None]) -> Any:
    """Retry ``fn`` while AWS answers ``code`` (IAM propagation), for a bounded time."""
    deadline = time.monotonic() + IAM_PROPAGATION_SECONDS
    delay = 1.0
    while True:
        try:
            return fn()
        except Exception as exc:
            cause = exc.__cause__ or exc
            if error_code(cause) != code or time.monotonic() >= deadline:
                raise
        sleep(delay)
        delay = min(delay * 2, 8.0)


def _trust_change(iam: Any, spec: s.DeploySpec, arn: str) -> tuple[TrustChange | None, str | None]:
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if not arn.startswith("arn:aws") or ":role/" not in arn:
        return None, f"--protect-role {arn}: not a role ARN (arn:aws:iam::<account>:role/<name>)"
    if account != spec.account:
        return None, (
            f"protected role {arn} is in account {account}, not {spec.account}: "
            "set its trust policy from that account"
        )
    name = s.role_name_of(arn)
    role = read_or_none("iam", "GetRole", lambda: iam.get_role(RoleName=name), arn)
    if role is None:
        return None, f"protected role {arn} does not exist"
    have = policy_document(role["Role"].get("AssumeRolePolicyDocument"))
    diff = document_diff(have, protected_role_trust_policy(spec.role_arn))
    return (TrustChange(arn, diff) if diff else None), None


def document_diff(have: dict[str, Any], want: dict[str, Any]) -> tuple[str, ...]:
    """A unified diff between two policy documents; empty when they are equivalent."""
    if normalized(have) == normalized(want):
        return ()
    old = json.dumps(normalized(have), indent=2, sort_keys=True).splitlines()
    new = json.dumps(normalized(want), indent=2, sort_keys=True).splitlines()
    return tuple(difflib.unified_diff(old, new, "current", "desired", n=2, lineterm=""))
