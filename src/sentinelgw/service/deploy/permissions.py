"""The IAM each part of a deployment needs, from the same source as the template.

Four principals (``sentinel permissions``):

- ``service``: the execution role, :func:`~sentinelgw.service.policies.service_role_policy`,
  the very document the template puts on it;
- ``security``: the security team, who revoke and unblock. Through the service they need only
  to invoke it (and to be ``admins`` in its policy); ``sentinel server-revoke --local`` with their
  own IAM also needs the table and the protected roles' revocation policy, and ``tvm check``
  needs its reads;
- ``users``: :func:`~sentinelgw.service.policies.user_invoke_policy`, invoke the service and
  nothing else;
- ``deployer``: ``sentinel init tvm``: the stack and its change sets, the code bucket, what
  CloudFormation creates with the caller's permissions (the role, the table, the parameter,
  the log group, the function and its URL), the protected roles' trust policies, and the reads
  of ``tvm check``.

Every ARN is built from a :class:`~sentinelgw.service.deploy.spec.DeploySpec` and the code
bucket, so the policies name exactly what ``init tvm`` deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinelgw.service import policies
from sentinelgw.service.deploy import spec as s

PRINCIPALS = ("service", "security", "users", "deployer")
DESCRIPTIONS = {
    "service": "the credential service's execution role",
    "security": "the security team (revoke, unblock, tvm check)",
    "users": "everyone who asks the service for credentials",
    "deployer": "whoever runs 'sentinel init tvm' (the platform team)",
}

# What tvm check reads (all reads).
CHECK_ACTIONS = (
    "iam:GetAccountAuthorizationDetails",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
)
STACK_ACTIONS = (
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DeleteStack",
)
BUCKET_ACTIONS = ("s3:CreateBucket", "s3:ListBucket", "s3:PutBucketPublicAccessBlock")
CODE_ACTIONS = ("s3:GetObject", "s3:PutObject")
ROLE_ACTIONS = (
    "iam:GetRole",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
)
TABLE_DEPLOY_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:CreateTable",
    "dynamodb:UpdateTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:TagResource",
    "dynamodb:ListTagsOfResource",
)
PARAMETER_DEPLOY_ACTIONS = (
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:PutParameter",
    "ssm:DeleteParameter",
    "ssm:AddTagsToResource",
    "ssm:ListTagsForResource",
)
LOG_DEPLOY_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:TagResource",
    "logs:TagLogGroup",
)
FUNCTION_DEPLOY_ACTIONS = (
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:TagResource",
    "lambda:ListTags",
    "lambda:GetFunctionUrlConfig",
    "lambda:CreateFunctionUrlConfig",
    "lambda:UpdateFunctionUrlConfig",
    "lambda:DeleteFunctionUrlConfig",
)
SECURITY_TABLE_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)


@dataclass(frozen=True)
class Target:
    """What the policies are about: a deployment, its code bucket, and how ARNs are spelled.

    ``partition``, ``region`` and ``account`` are strings put into ARNs as they are, so a
    caller may pass ``${AWS::AccountId}`` (CloudFormation) or a Terraform interpolation.
    """

    spec: s.DeploySpec
    bucket: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.spec.region if regional else ""
        account = self.spec.account if service not in ("s3",) else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    @property
    def role(self) -> str:
        return self.arn("iam", f"role/{self.spec.role_name}", regional=False)

    @property
    def table(self) -> str:
        return self.arn("dynamodb", f"table/{self.spec.table}")

    @property
    def parameter(self) -> str:
        name = self.spec.policy_parameter
        return self.arn("ssm", f"parameter{name if name.startswith('/') else '/' + name}")

    @property
    def function(self) -> str:
        return self.arn("lambda", f"function:{self.spec.function_name}")

    @property
    def log_group(self) -> str:
        return self.arn("logs", f"log-group:{self.spec.log_group}")

    @property
    def stack(self) -> str:
        from sentinelgw.service.deploy.stack import stack_name

        return self.arn("cloudformation", f"stack/{stack_name(self.spec)}/*")

    @property
    def protected(self) -> list[str]:
        return sorted(self.spec.protected_roles)


def policy_for(principal: str, target: Target) -> dict[str, Any]:
    """The identity policy ``principal`` (one of :data:`PRINCIPALS`) needs."""
    if principal == "service":
        return policies.service_role_policy(
            target.protected,
            target.table,
            target.parameter,
            log_group_arn=target.log_group,
        )
    if principal == "users":
        return policies.user_invoke_policy(target.function)
    if principal == "security":
        return _document(_security(target))
    if principal == "deployer":
        return _document(_deployer(target))
    raise ValueError(f"unknown principal {principal!r}")


def all_policies(target: Target) -> dict[str, dict[str, Any]]:
    return {p: policy_for(p, target) for p in PRINCIPALS}


def _security(t: Target) -> list[dict[str, Any]]:
    out = [
        _allow("SentinelInvokeService", policies.INVOKE_ACTIONS, [t.function]),
        _allow("SentinelSessionTable", SECURITY_TABLE_ACTIONS, [t.table, f"{t.table}/index/*"]),
        _allow("SentinelCheckDeployment", CHECK_ACTIONS, ["*"]),
        _allow(
            "SentinelCheckFunction",
            ("lambda:GetFunction", "lambda:GetFunctionUrlConfig"),
            [t.function],
        ),
    ]
    if t.protected:
        out.append(_allow("SentinelRevokeSessions", policies.REVOCATION_ACTIONS, t.protected))
    return out


def _deployer(t: Target) -> list[dict[str, Any]]:
    bucket = f"arn:{t.partition}:s3:::{t.bucket}"
    out = [
        _allow("SentinelStack", STACK_ACTIONS, [t.stack]),
        _allow("SentinelCodeBucket", BUCKET_ACTIONS, [bucket]),
        _allow("SentinelCode", CODE_ACTIONS, [f"{bucket}/sentinel-tvm/*"]),
        _allow("SentinelExecutionRole", ROLE_ACTIONS, [t.role]),
        {
            **_allow("SentinelPassExecutionRole", ("iam:PassRole",), [t.role]),
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        },
        _allow("SentinelSessionTable", TABLE_DEPLOY_ACTIONS, [t.table]),
        _allow("SentinelPolicyParameter", PARAMETER_DEPLOY_ACTIONS, [t.parameter]),
        _allow("SentinelLogGroup", LOG_DEPLOY_ACTIONS, [t.log_group, f"{t.log_group}:*"]),
        _allow("SentinelDescribeLogGroups", ("logs:DescribeLogGroups",), ["*"]),
        _allow("SentinelFunction", FUNCTION_DEPLOY_ACTIONS, [t.function]),
        _allow("SentinelCheckDeployment", CHECK_ACTIONS, ["*"]),
    ]
    if t.protected:
        out.append(
            _allow(
                "SentinelProtectedRoleTrust",
                ("iam:GetRole", "iam:UpdateAssumeRolePolicy"),
                t.protected,
            )
        )
    return out


def _allow(sid: str, actions: tuple[str, ...], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": policies.VERSION, "Statement": statements}
