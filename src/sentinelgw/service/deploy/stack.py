"""``sentinel init tvm``: the credential service as one CloudFormation stack, via a change set.

The template of :mod:`.cloudformation` is the deployment. :meth:`StackDeployment.plan` reads
the account and asks CloudFormation for a change set against the stack (a ``CREATE`` change set
when there is no stack yet), so the plan shows what CloudFormation itself will do.
:meth:`StackDeployment.execute` uploads the function code, executes the change set and waits.

- **The code** goes to S3 under a content-addressed key, ``sentinel-tvm/<sha256>.zip``, in the
  bucket the caller names, or ``sentinel-tvm-code-<account>-<region>``, which is created
  (private, public access blocked) when missing. The same code is uploaded once; new code is a
  new key, written into the template, so the change set shows the function's update.
- **A failure rolls back.** CloudFormation rolls a failed update back itself; a stack whose
  first creation failed cannot be updated, so it is deleted (resources CloudFormation retains,
  the table and the log group, stay). The failed resources and their reasons are reported.
- **A table or parameter that already exists** stays outside the stack
  (``CreateSessionTable`` / ``CreatePolicyParameter`` = ``false``); once the stack owns one, it
  keeps owning it. A table with another schema stops the deployment before anything changes.

The protected roles' trust policies are not in the stack (a stack cannot edit a role it did not
create): :mod:`.trust` is that separate step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

from sentinelgw import __version__
from sentinelgw.awsclients import error_code, translate
from sentinelgw.awserrors import aws_call
from sentinelgw.errors import DeployError
from sentinelgw.inert import visible
from sentinelgw.service.deploy import cloudformation as cfn
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import DeployClients, read_or_none
from sentinelgw.service.deploy.code_bucket import code_key, default_bucket, locate_code, upload_code
from sentinelgw.service.deploy.package import HANDLER_FILE, LambdaPackage
from sentinelgw.service.deploy.stack_plan import ResourceChange, StackPlan
from sentinelgw.service.deploy.trust import trust_changes
from sentinelgw.sessions.schema import ensure_table

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
TAGS = [{"Key": "sentinel:component", "Value": "credential-service"}]
POLL_SECONDS = 2.0
WAIT_SECONDS = 1800.0
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
_FAILED = frozenset(
    {
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "DELETE_COMPLETE",
        "DELETE_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)
# A stack in one of these can take an UPDATE change set.
_UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)


class StackDeployment:
    """Plans and deploys one credential-service stack."""

    def __init__(
        self,
        clients: DeployClients,
        spec: s.DeploySpec,
        package: LambdaPackage,
        *,
        bucket: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.c = clients
        self.spec = spec
        self.package = package
        self.bucket = bucket or default_bucket(spec)
        self.key = code_key(package)
        self.stack_name = stack_name(spec)
        self.sleep = sleep

    # -- planning ----------------------------------------------------------------------

    def plan(self) -> StackPlan:
        """Read the account and create a change set; nothing else changes."""
        warnings: list[str] = []
        problems: list[str] = []
        if not self.package.has_handler:
            warnings.append(
                f"the installed sentinelgw has no {HANDLER_FILE}: the function would "
                "fail when invoked; install a sentinelgw release with the service"
            )
        stack = self.describe_stack()
        status = str(stack.get("StackStatus")) if stack else ""
        kind = "UPDATE" if status in _UPDATABLE else "CREATE"
        if status and status not in _UPDATABLE and status != "REVIEW_IN_PROGRESS":
            problems.append(_blocking_status(self.stack_name, status))
        previous = {
            str(p.get("ParameterKey")): str(p.get("ParameterValue"))
            for p in (stack or {}).get("Parameters") or []
        }
        create_table, table_problems, table_warnings = self._table(previous, kind)
        problems += table_problems
        warnings += table_warnings
        create_parameter = self._parameter(previous, kind)
        code, code_problems = locate_code(self.c.s3, self.bucket, self.key)
        problems += code_problems
        trust, trust_problems = trust_changes(self.c.iam, self.spec)
        problems += trust_problems
        params = (
            ("FunctionName", self.spec.function_name),
            ("TableName", self.spec.table),
            ("PolicyParameterName", _slash(self.spec.policy_parameter)),
            (cfn.CREATE_TABLE, create_table),
            (cfn.CREATE_PARAMETER, create_parameter),
        )
        base = StackPlan(
            self.spec,
            self.stack_name,
            code=code,
            change_set_type=kind,
            trust=trust,
            problems=tuple(problems),
            warnings=tuple(warnings),
            parameters=params,
        )
        if problems:
            return base
        # a stack a change set made, never executed (an interrupted plan): removed with it
        review = stack is None or status == "REVIEW_IN_PROGRESS"
        return self._change_set(base, review_stack=review)

    def _table(self, previous: dict[str, str], kind: str) -> tuple[str, list[str], list[str]]:
        report = ensure_table(self.c.dynamodb, self.spec.table, plan=True)
        problems = [f"session table {self.spec.table}: {d}" for d in report.differences]
        if kind == "UPDATE" and cfn.CREATE_TABLE in previous:
            in_stack = previous[cfn.CREATE_TABLE]
        else:
            in_stack = "false" if report.exists else "true"
        warnings = []
        if report.exists and in_stack == "false" and report.actions:
            warnings.append(
                f"session table {self.spec.table} is not managed by the stack and needs: "
                + "; ".join(report.actions)
                + " (run 'sentinel init sessions')"
            )
        return in_stack, problems, warnings

    def _parameter(self, previous: dict[str, str], kind: str) -> str:
        if kind == "UPDATE" and cfn.CREATE_PARAMETER in previous:
            return previous[cfn.CREATE_PARAMETER]
        name = self.spec.policy_parameter
        found = read_or_none(
            "ssm", "GetParameter", lambda: self.c.ssm.get_parameter(Name=name), name
        )
        return "false" if found is not None else "true"

    def _change_set(self, base: StackPlan, *, review_stack: bool) -> StackPlan:
        cf = self.c.cloudformation
        body = cfn.render(self.spec, code=(self.bucket, self.key))
        name = f"sentinel-{int(time.time())}"
        try:
            made = cf.create_change_set(
                StackName=self.stack_name,
                ChangeSetName=name,
                ChangeSetType=base.change_set_type,
                TemplateBody=body,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in base.parameters],
                Capabilities=CAPABILITIES,
                Tags=TAGS,
                Description=f"sentinel init tvm ({__version__})",
            )
        except Exception as exc:
            if error_code(exc) == "ValidationError" and any(m in str(exc) for m in _NO_CHANGES):
                return base  # some implementations refuse an empty change set outright

            raise translate(exc, "cloudformation", "CreateChangeSet", self.stack_name) from exc
        cs_id = str(made["Id"])
        plan = _replace(base, change_set_id=cs_id, review_stack=review_stack)
        described = self._wait_change_set(cs_id)
        status = str(described.get("Status"))
        if status == "FAILED":
            reason = str(described.get("StatusReason") or "")
            if any(marker in reason for marker in _NO_CHANGES):
                return plan
            return _replace(
                plan,
                problems=(f"CloudFormation refused the change set: {visible(reason)}",),
            )
        # A resource whose condition is false is not part of the change (AWS leaves it out of
        # the change set; moto lists it anyway).
        outside = {
            logical
            for logical, param in (
                ("SessionTable", cfn.CREATE_TABLE),
                ("PolicyParameter", cfn.CREATE_PARAMETER),
            )
            if dict(base.parameters).get(param) == "false"
        }
        changes = [
            c
            for c in self._changes(cs_id, described)
            if not (c.action == "Add" and c.logical_id in outside)
        ]
        return _replace(plan, changes=tuple(changes))

    def _wait_change_set(self, cs_id: str) -> dict[str, Any]:
        cf = self.c.cloudformation
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with aws_call("cloudformation", "DescribeChangeSet", self.stack_name):
                got: dict[str, Any] = cf.describe_change_set(ChangeSetName=cs_id)
            if str(got.get("Status")) in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE"):
                return got
            if time.monotonic() >= deadline:
                raise DeployError(f"the change set for stack {self.stack_name} was not ready")
            self.sleep(POLL_SECONDS)

    def _changes(self, cs_id: str, first: dict[str, Any]) -> list[ResourceChange]:
        cf = self.c.cloudformation
        out: list[ResourceChange] = []
        page = first
        while True:
            for item in page.get("Changes") or []:
                rc = item.get("ResourceChange") or {}
                out.append(
                    ResourceChange(
                        action=str(rc.get("Action", "")),
                        logical_id=str(rc.get("LogicalResourceId", "")),
                        resource_type=str(rc.get("ResourceType", "")),
                        physical_id=str(rc.get("PhysicalResourceId") or ""),
                        replacement=str(rc.get("Replacement") or ""),
                        scope=tuple(str(x) for x in rc.get("Scope") or ()),
                    )
                )
            token = page.get("NextToken")
            if not token:
                return out
            with aws_call("cloudformation", "DescribeChangeSet", self.stack_name):
                page = cf.describe_change_set(ChangeSetName=cs_id, NextToken=token)

    def discard(self, plan: StackPlan) -> None:
        """Delete a change set that will not run (and the empty stack it created)."""
        cf = self.c.cloudformation
        if plan.change_set_id is None:
            return
        read_or_none(
            "cloudformation",
            "DeleteChangeSet",
            lambda: cf.delete_change_set(ChangeSetName=plan.change_set_id),
            self.stack_name,
        )
        if plan.review_stack:
            stack = self.describe_stack()
            if stack and stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
                with aws_call("cloudformation", "DeleteStack", self.stack_name):
                    cf.delete_stack(StackName=self.stack_name)

    # -- deploying ---------------------------------------------------------------------

    def upload(self, plan: StackPlan, on_step: Callable[[str], None]) -> None:
        """Create the code bucket if needed and upload the zip if it is not there yet."""
        if plan.code is not None:
            upload_code(self.c.s3, self.spec.region, plan.code, self.package.data, on_step)

    def execute(self, plan: StackPlan, on_step: Callable[[str], None]) -> None:
        """Execute the change set and wait (after :meth:`upload`); a failure rolls back, raises."""
        if plan.problems:
            raise DeployError(
                f"{len(plan.problems)} problem(s) block the deployment; nothing was changed"
            )
        if plan.change_set_id is None or not plan.changes:
            return
        cf = self.c.cloudformation
        started = time.time()
        try:
            with aws_call("cloudformation", "ExecuteChangeSet", self.stack_name):
                cf.execute_change_set(ChangeSetName=plan.change_set_id, StackName=self.stack_name)
        except Exception as exc:  # some implementations fail the call instead of the stack
            self._failed(plan, str(exc), started)
        status = self._wait_stack()
        if status in _SUCCESS:
            on_step(f"stack {self.stack_name}: {status}")
            return
        self._failed(plan, f"stack status {status}", started)

    def _wait_stack(self) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            stack = self.describe_stack()
            status = str((stack or {}).get("StackStatus", "DELETE_COMPLETE"))
            if status in _SUCCESS or status in _FAILED:
                return status
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"stack {self.stack_name} is still {status} after {int(WAIT_SECONDS)} s",
                    hint="Follow it in the CloudFormation console",
                )
            self.sleep(POLL_SECONDS)

    def _failed(self, plan: StackPlan, cause: str, since: float) -> NoReturn:
        """Report what failed, roll back what CloudFormation could not, and raise."""
        reasons = self._failure_reasons(since) or [visible(cause)]
        stack = self.describe_stack()
        status = str((stack or {}).get("StackStatus", "DELETE_COMPLETE"))
        if plan.change_set_type == "CREATE":
            if stack is not None and status != "DELETE_COMPLETE":
                cf = self.c.cloudformation
                with aws_call("cloudformation", "DeleteStack", self.stack_name):
                    cf.delete_stack(StackName=self.stack_name)
            outcome = "it was rolled back and the stack deleted (the table and log group are kept)"
        elif status == "UPDATE_ROLLBACK_COMPLETE":
            outcome = "it was rolled back to the previous version"
        else:
            outcome = f"the stack is {status}: check it in the CloudFormation console"
        raise DeployError(
            f"deploying stack {self.stack_name} failed: {'; '.join(reasons)}; {outcome}",
            hint="Fix the cause and run 'sentinel init tvm' again",
        )

    def _failure_reasons(self, since: float) -> list[str]:
        cf = self.c.cloudformation
        try:
            events = cf.describe_stack_events(StackName=self.stack_name).get("StackEvents") or []
        except Exception:  # the reasons are a courtesy; the failure itself is reported anyway
            return []
        out: list[str] = []
        for event in reversed(events):
            stamp = event.get("Timestamp")
            if stamp is not None and hasattr(stamp, "timestamp") and stamp.timestamp() < since - 5:
                continue
            status = str(event.get("ResourceStatus", ""))
            reason = str(event.get("ResourceStatusReason") or "")
            if not status.endswith("_FAILED") or "cancelled" in reason.lower():
                continue
            if event.get("LogicalResourceId") == self.stack_name:
                continue
            out.append(
                f"{visible(event.get('LogicalResourceId'))} "
                f"({visible(event.get('ResourceType'))}): {visible(reason)}"
            )
        return out

    # -- reading -----------------------------------------------------------------------

    def describe_stack(self) -> dict[str, Any] | None:
        cf = self.c.cloudformation
        try:
            got = cf.describe_stacks(StackName=self.stack_name)
        except Exception as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None

            raise translate(exc, "cloudformation", "DescribeStacks", self.stack_name) from exc
        stacks = got.get("Stacks") or []
        return dict(stacks[0]) if stacks else None

    def outputs(self) -> dict[str, str]:
        stack = self.describe_stack() or {}
        return {
            str(o.get("OutputKey")): str(o.get("OutputValue")) for o in stack.get("Outputs") or []
        }

    def function_url(self) -> str | None:
        """The service URL: the stack's ``FunctionUrl`` output, else Lambda's answer."""
        url = self.outputs().get("FunctionUrl")
        if url:
            return url
        lam, name = self.c.lambda_, self.spec.function_name
        got = read_or_none(
            "lambda",
            "GetFunctionUrlConfig",
            lambda: lam.get_function_url_config(FunctionName=name),
            name,
        )
        return str(got["FunctionUrl"]) if got and got.get("FunctionUrl") else None


def stack_name(spec: s.DeploySpec) -> str:
    """The stack's name: the deployment's name (stack names allow no underscore)."""
    return spec.name.replace("_", "-")


def _blocking_status(name: str, status: str) -> str:
    if status == "ROLLBACK_COMPLETE":
        return (
            f"stack {name} is ROLLBACK_COMPLETE (its creation failed); delete it "
            f"('aws cloudformation delete-stack --stack-name {name}') and run again"
        )
    if status.endswith("_IN_PROGRESS"):
        return f"stack {name} is busy ({status}); wait for it to finish and run again"
    return f"stack {name} is {status}; repair it in the CloudFormation console and run again"


def _replace(plan: StackPlan, **changes: Any) -> StackPlan:
    import dataclasses

    return dataclasses.replace(plan, **changes)


def _slash(name: str) -> str:
    return name if name.startswith("/") else f"/{name}"
