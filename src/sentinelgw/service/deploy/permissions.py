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

import json
from dataclasses import dataclass
from typing import Any

from sentinelgw.service import policies
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.cloudformation import substituted
from sentinelgw.service.deploy.schedule import (
    EVENT_DEPLOY_ACTIONS,
    PERMISSION_DEPLOY_ACTIONS,
    RULE_SUFFIX,
)
from sentinelgw.service.deploy.stack import stack_name

PRINCIPALS = ("service", "security", "users", "deployer")
DESCRIPTIONS = {
    "service": "the credential service's execution role",
    "security": "the security team (revoke, unblock, tvm check)",
    "users": "everyone who asks the service for credentials",
    "deployer": "whoever runs 'sentinel init tvm' (the platform team)",
}

# What tvm check and permissions check read (all reads).
CHECK_ACTIONS = (
    "iam:GetAccountAuthorizationDetails",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:SimulatePrincipalPolicy",
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
# tvm check's drift detection on the stack.
DRIFT_ACTIONS = (
    "cloudformation:DetectStackDrift",
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
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
    "dynamodb:BatchGetItem",  # reading access requests, to cancel a revoked user's
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
            sns_topic_arn=target.spec.sns_topic_arn,
            identity_store_id=target.spec.identity_store_id,
            mfa_role_arn=target.spec.mfa_role_arn,
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
        _allow(
            "SentinelCheckStackDrift", ("cloudformation:DescribeStacks", *DRIFT_ACTIONS), [t.stack]
        ),
    ]
    if t.protected:
        out.append(_allow("SentinelRevokeSessions", policies.REVOCATION_ACTIONS, t.protected))
    return out


def _deployer(t: Target) -> list[dict[str, Any]]:
    bucket = f"arn:{t.partition}:s3:::{t.bucket}"
    out = [
        _allow("SentinelStack", STACK_ACTIONS + DRIFT_ACTIONS, [t.stack]),
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
        _allow(
            "SentinelFunction", FUNCTION_DEPLOY_ACTIONS + PERMISSION_DEPLOY_ACTIONS, [t.function]
        ),
        _allow(
            "SentinelSweepSchedule",
            EVENT_DEPLOY_ACTIONS,
            [t.arn("events", f"rule/{t.spec.function_name}{RULE_SUFFIX}")],
        ),
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


# -- rendering -----------------------------------------------------------------------------

CFN_LOGICAL_IDS = {
    "service": "SentinelServicePolicy",
    "security": "SentinelSecurityTeamPolicy",
    "users": "SentinelUsersPolicy",
    "deployer": "SentinelDeployerPolicy",
}
TF_NAMES = {
    "service": "sentinel_service",
    "security": "sentinel_security_team",
    "users": "sentinel_users",
    "deployer": "sentinel_deployer",
}
_TF_ACCOUNT = "${data.aws_caller_identity.current.account_id}"
_TF_REGION = "${data.aws_region.current.name}"
_TF_PARTITION = "${data.aws_partition.current.partition}"


def render_human(target: Target, principals: tuple[str, ...]) -> str:
    """One section per principal: each statement's actions and resources."""
    out: list[str] = []
    for principal in principals:
        doc = policy_for(principal, target)
        out.append(f"{principal}: {DESCRIPTIONS[principal]}")
        for st in doc["Statement"]:
            resources = ", ".join(str(r) for r in st["Resource"])
            out.append(f"  {st.get('Sid', '')}  on {resources}")
            out += [f"    {action}" for action in st["Action"]]
            for test, values in (st.get("Condition") or {}).items():
                for key, value in values.items():
                    out.append(f"    (only if {key} {test} {value})")
        out.append("")
    return "\n".join(out)


def render_json(target: Target, principals: tuple[str, ...]) -> str:
    payload = {p: policy_for(p, target) for p in principals}
    return json.dumps(payload, indent=2) + "\n"


def cloudformation_template(
    spec: s.DeploySpec, principals: tuple[str, ...], bucket: str | None = None
) -> dict[str, Any]:
    """A template with one ``AWS::IAM::ManagedPolicy`` per principal, in the stack's account."""
    cfn_spec = _tokens(spec, "${AWS::Region}", "${AWS::AccountId}")
    default = "sentinel-tvm-code-${AWS::AccountId}-${AWS::Region}"
    target = Target(cfn_spec, bucket or default, "${AWS::Partition}")
    resources = {
        CFN_LOGICAL_IDS[p]: {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": f"Sentinel: what {DESCRIPTIONS[p]} needs",
                "PolicyDocument": policy_for(p, target),
            },
        }
        for p in principals
    }
    outputs = {
        f"{CFN_LOGICAL_IDS[p]}Arn": {
            "Description": f"Attach to {DESCRIPTIONS[p]}",
            "Value": {"Ref": CFN_LOGICAL_IDS[p]},
        }
        for p in principals
    }
    doc = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Sentinel credential service: the IAM each principal of a deployment needs",
        "Resources": resources,
        "Outputs": outputs,
    }
    result: dict[str, Any] = substituted(doc)
    return result


def render_terraform(
    spec: s.DeploySpec, principals: tuple[str, ...], bucket: str | None = None
) -> str:
    """``aws_iam_policy`` resources, with the account, region and partition from data sources."""
    tf_spec = _tokens(spec, _TF_REGION, _TF_ACCOUNT)
    default = f"sentinel-tvm-code-{_TF_ACCOUNT}-{_TF_REGION}"
    target = Target(tf_spec, bucket or default, _TF_PARTITION)
    out = [
        "# Sentinel credential service: the IAM each principal of a deployment needs",
        'data "aws_caller_identity" "current" {}',
        'data "aws_region" "current" {}',
        'data "aws_partition" "current" {}',
        "",
    ]
    for p in principals:
        body = json.dumps(policy_for(p, target), indent=2)
        out += [
            f'resource "aws_iam_policy" "{TF_NAMES[p]}" {{',
            f'  name        = "{TF_NAMES[p].replace("_", "-")}"',
            f'  description = "Sentinel: what {DESCRIPTIONS[p]} needs"',
            "  policy      = <<-POLICY",
            *(f"    {line}" for line in body.splitlines()),
            "  POLICY",
            "}",
            "",
        ]
    return "\n".join(out)


def _tokens(spec: s.DeploySpec, region: str, account: str) -> s.DeploySpec:
    import dataclasses

    return dataclasses.replace(spec, region=region, account=account)
