"""What ``init tvm`` would do, as data: the code upload, the change set's resource changes,
the trust-policy step, and the problems that block it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinelgw.inert import visible
from sentinelgw.service.deploy import cloudformation as cfn
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.trust import TrustChange

_SIGNS = {"Add": "+", "Modify": "~", "Remove": "-"}


@dataclass(frozen=True)
class CodeLocation:
    """Where the function zip goes, and what is already there."""

    bucket: str
    key: str
    bucket_exists: bool
    object_exists: bool

    def lines(self) -> list[str]:
        out = [] if self.bucket_exists else [f"+ create code bucket {self.bucket}"]
        if not self.object_exists:
            out.append(f"+ upload function code s3://{self.bucket}/{self.key}")
        return out


@dataclass(frozen=True)
class ResourceChange:
    """One line of a change set: what CloudFormation will do to one resource."""

    action: str
    logical_id: str
    resource_type: str
    physical_id: str = ""
    replacement: str = ""
    scope: tuple[str, ...] = ()

    def line(self) -> str:
        sign = _SIGNS.get(self.action, "*")
        text = f"{sign} {self.action.lower()} {self.logical_id} ({self.resource_type})"
        if self.physical_id:
            text += f" {visible(self.physical_id)}"
        if self.scope:
            text += f": {', '.join(visible(x) for x in self.scope)}"
        if self.replacement == "True":
            text += " [replaced]"
        elif self.replacement == "Conditional":
            text += " [may be replaced]"
        return text


@dataclass(frozen=True)
class StackPlan:
    """What ``init tvm`` would do: the code upload, the change set, the trust-policy step."""

    spec: s.DeploySpec
    stack_name: str
    code: CodeLocation | None = None
    change_set_id: str | None = None
    change_set_type: str = "CREATE"
    changes: tuple[ResourceChange, ...] = ()
    trust: tuple[TrustChange, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    review_stack: bool = False  # the change set created the (empty) stack
    parameters: tuple[tuple[str, str], ...] = field(default=())

    @property
    def stack_changes(self) -> bool:
        return bool(self.changes)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.trust and not (self.code and self.code.lines())

    def lines(self) -> list[str]:
        """The stack part of the plan, as text."""
        out = list(self.code.lines()) if self.code else []
        if not self.changes:
            return out
        verb = "create" if self.change_set_type == "CREATE" else "update"
        out.append(f"stack {self.stack_name} ({verb}, change set):")
        out += [f"  {c.line()}" for c in self.changes]
        kept = dict(self.parameters)
        if kept.get(cfn.CREATE_TABLE) == "false":
            out.append(f"  = session table {self.spec.table} exists: it stays outside the stack")
        if kept.get(cfn.CREATE_PARAMETER) == "false":
            out.append(
                f"  = policy parameter {self.spec.policy_parameter} exists: it stays outside "
                "the stack, its value untouched"
            )
        return out
