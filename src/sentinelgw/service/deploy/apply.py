"""Carrying out a :class:`~sentinelgw.service.deploy.plan.Plan`.

Changes run in plan order: the execution role first (the function and the protected roles'
trust policies name it), then the table, the parameter, the function, its URL, and the trust
policies. IAM is eventually consistent, so a role created a moment ago may not yet be usable
by Lambda or valid as a principal; those two calls are retried for a bounded time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sentinelgw.awsclients import error_code
from sentinelgw.errors import DeployError
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.aws import DeployClients, fetch, run
from sentinelgw.service.deploy.package import LambdaPackage
from sentinelgw.service.deploy.plan import (
    Change,
    Plan,
    desired_function_config,
    desired_service_policy,
)
from sentinelgw.service.policies import protected_role_trust_policy

T = TypeVar("T")
IAM_PROPAGATION_SECONDS = 60.0
FUNCTION_READY_SECONDS = 120.0
TAGS = {"sentinel:component": "credential-service"}


def apply_plan(
    clients: DeployClients,
    plan: Plan,
    package: LambdaPackage,
    *,
    on_done: Callable[[Change], None] = lambda change: None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Make every change of ``plan``; refuses when the plan has problems."""
    if plan.problems:
        raise DeployError(
            f"the deployment has {len(plan.problems)} problem(s) Sentinel will not fix: "
            + "; ".join(plan.problems),
            hint="Fix them, then run 'sentinel init tvm' again",
        )
    applier = _Applier(clients, plan.spec, package, sleep)
    for change in plan.changes:
        applier.apply(change)
        on_done(change)


class _Applier:
    def __init__(
        self,
        clients: DeployClients,
        spec: s.DeploySpec,
        package: LambdaPackage,
        sleep: Callable[[float], None],
    ) -> None:
        self.c = clients
        self.spec = spec
        self.package = package
        self.sleep = sleep

    def apply(self, change: Change) -> None:
        getattr(self, f"_{change.kind}")(change)

    # -- the execution role ------------------------------------------------------------

    def _role(self, change: Change) -> None:
        name = self.spec.role_name
        run(
            "iam",
            "CreateRole",
            lambda: self.c.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(s.lambda_trust_policy()),
                Description="Sentinel credential service (Lambda execution role)",
                Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()],
            ),
            name,
        )
        self._role_policy(change)

    def _role_trust_policy(self, change: Change) -> None:
        name = self.spec.role_name
        run(
            "iam",
            "UpdateAssumeRolePolicy",
            lambda: self.c.iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=json.dumps(s.lambda_trust_policy())
            ),
            name,
        )

    def _role_policy(self, change: Change) -> None:
        name = self.spec.role_name
        run(
            "iam",
            "PutRolePolicy",
            lambda: self.c.iam.put_role_policy(
                RoleName=name,
                PolicyName=s.SERVICE_POLICY_NAME,
                PolicyDocument=json.dumps(desired_service_policy(self.spec)),
            ),
            name,
        )

    # -- table and parameter -----------------------------------------------------------

    def _table(self, change: Change) -> None:
        from sentinelgw.sessions.schema import ensure_table

        report = ensure_table(self.c.dynamodb, self.spec.table)
        if report.differences:
            raise DeployError(
                f"session table {self.spec.table} changed while deploying: "
                + "; ".join(report.differences)
            )

    def _parameter(self, change: Change) -> None:
        name = self.spec.policy_parameter
        run(
            "ssm",
            "PutParameter",
            lambda: self.c.ssm.put_parameter(
                Name=name,
                Value=s.INITIAL_POLICY,
                Type="String",
                Overwrite=False,
                Description="Sentinel credential service policy",
            ),
            name,
        )

    # -- the function and its URL ------------------------------------------------------

    def _function(self, change: Change) -> None:
        name = self.spec.function_name
        config = desired_function_config(self.spec)
        self._retry_iam(
            "InvalidParameterValueException",
            lambda: run(
                "lambda",
                "CreateFunction",
                lambda: self.c.lambda_.create_function(
                    FunctionName=name,
                    Code={"ZipFile": self.package.data},
                    Architectures=[s.ARCHITECTURE],
                    Description="Sentinel credential service",
                    Tags=TAGS,
                    **config,
                ),
                name,
            ),
        )
        self._wait_ready()

    def _function_code(self, change: Change) -> None:
        name = self.spec.function_name
        run(
            "lambda",
            "UpdateFunctionCode",
            lambda: self.c.lambda_.update_function_code(
                FunctionName=name, ZipFile=self.package.data, Architectures=[s.ARCHITECTURE]
            ),
            name,
        )
        self._wait_ready()

    def _function_configuration(self, change: Change) -> None:
        name = self.spec.function_name
        config = desired_function_config(self.spec)
        self._retry_iam(
            "InvalidParameterValueException",
            lambda: run(
                "lambda",
                "UpdateFunctionConfiguration",
                lambda: self.c.lambda_.update_function_configuration(FunctionName=name, **config),
                name,
            ),
        )
        self._wait_ready()

    def _function_url(self, change: Change) -> None:
        name = self.spec.function_name
        lam = self.c.lambda_
        if change.action == "create":
            run(
                "lambda",
                "CreateFunctionUrlConfig",
                lambda: lam.create_function_url_config(FunctionName=name, AuthType=s.URL_AUTH_TYPE),
                name,
            )
        else:
            run(
                "lambda",
                "UpdateFunctionUrlConfig",
                lambda: lam.update_function_url_config(FunctionName=name, AuthType=s.URL_AUTH_TYPE),
                name,
            )

    # -- protected roles ---------------------------------------------------------------

    def _trust_policy(self, change: Change) -> None:
        arn = change.target
        doc = json.dumps(protected_role_trust_policy(self.spec.role_arn))
        self._retry_iam(
            "MalformedPolicyDocument",
            lambda: run(
                "iam",
                "UpdateAssumeRolePolicy",
                lambda: self.c.iam.update_assume_role_policy(
                    RoleName=s.role_name_of(arn), PolicyDocument=doc
                ),
                arn,
            ),
        )

    # -- waiting -----------------------------------------------------------------------

    def _retry_iam(self, code: str, fn: Callable[[], T]) -> T:
        """Retry ``fn`` while AWS answers ``code``, which a role not yet propagated causes."""
        deadline = time.monotonic() + IAM_PROPAGATION_SECONDS
        delay = 1.0
        while True:
            try:
                return fn()
            except DeployError:
                raise
            except Exception as exc:
                cause = exc.__cause__ or exc
                if error_code(cause) != code or time.monotonic() >= deadline:
                    raise
            self.sleep(delay)
            delay = min(delay * 2, 8.0)

    def _wait_ready(self) -> None:
        """Lambda refuses a second update while one is in progress: wait for it to settle."""
        name = self.spec.function_name
        deadline = time.monotonic() + FUNCTION_READY_SECONDS
        while True:
            got: Any = fetch(
                "lambda",
                "GetFunction",
                lambda: self.c.lambda_.get_function(FunctionName=name),
                name,
            )
            config = (got or {}).get("Configuration", {})
            state = config.get("State", "Active")
            update = config.get("LastUpdateStatus", "Successful")
            if state == "Failed" or update == "Failed":
                raise DeployError(
                    f"Lambda function {name} failed to deploy: "
                    f"{config.get('StateReason') or config.get('LastUpdateStatusReason')}"
                )
            if got is not None and state == "Active" and update == "Successful":
                return
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"Lambda function {name} was not ready within {int(FUNCTION_READY_SECONDS)} s",
                    hint="Check it in the Lambda console, then run 'sentinel init tvm' again",
                )
            self.sleep(2.0)
