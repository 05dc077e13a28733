"""The credential service as a CloudFormation template (``init tvm --output cloudformation``).

This template *is* the deployment: ``sentinel init tvm`` deploys it as one stack through a
change set (:mod:`.stack`), and ``--output cloudformation`` prints it for teams that deploy with
their own pipeline. It holds the execution role and its ``SentinelService`` policy, the session
table (the schema ``sentinel init sessions`` uses, retained on stack deletion), the policy
parameter, the log group, the function and its ``AWS_IAM`` Function URL, and the EventBridge
rule that invokes the function every minute to sweep access requests (:mod:`.schedule`).

A session table or policy parameter that exists before the stack is left outside it
(``CreateSessionTable`` / ``CreatePolicyParameter`` = ``false``): a stack cannot create a
resource that already exists, and the table holds sessions that must never be replaced.

Two things it cannot do, so it says them in its outputs instead:

- the function code comes from S3 (``CodeS3Bucket``/``CodeS3Key``): upload the zip that
  ``--package-out`` writes;
- a stack cannot edit the trust policy of a role it does not own. Output
  ``ProtectedRoleTrustPolicy`` is the document to set on each protected role, for instance with
  ``aws iam update-assume-role-policy``.

The policy parameter's value is the operator's: the template sets only its first value, which
denies every request. Edits made later in SSM are kept until the template's own value changes.
"""

from __future__ import annotations

import json
from typing import Any

from sentinelgw import __version__
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.schedule import sweep_resources
from sentinelgw.service.policies import (
    protected_role_trust_policy,
    service_role_policy,
    user_invoke_policy,
)
from sentinelgw.sessions.schema import SPEC as TABLE

# Parameters and conditions: a table or parameter that exists before the stack stays outside it.
CREATE_TABLE = "CreateSessionTable"
CREATE_PARAMETER = "CreatePolicyParameter"
TABLE_IN_STACK = "SessionTableInStack"
PARAMETER_IN_STACK = "PolicyParameterInStack"

_ARN = "arn:${AWS::Partition}"
_TABLE_ARN = _ARN + ":dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
_PARAM_ARN = _ARN + ":ssm:${AWS::Region}:${AWS::AccountId}:parameter${PolicyParameterName}"
_LOG_GROUP = "/aws/lambda/${FunctionName}"
_LOG_GROUP_ARN = _ARN + ":logs:${AWS::Region}:${AWS::AccountId}:log-group:" + _LOG_GROUP
_FUNCTION_ARN = _ARN + ":lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}"


def template(spec: s.DeploySpec, code: tuple[str, str] | None = None) -> dict[str, Any]:
    """The template for ``spec``; its names become parameter defaults.

    ``code`` is the function zip's (bucket, key), written into the template as ``init tvm``
    deploys it (the key is content-addressed, so new code changes the template); without it
    they are the parameters ``CodeS3Bucket`` and ``CodeS3Key``.
    """
    table = {k: v for k, v in TABLE.create_request(spec.table).items() if k != "TableName"}
    policy = service_role_policy(
        list(spec.protected_roles),
        _TABLE_ARN,
        _PARAM_ARN,
        log_group_arn=_LOG_GROUP_ARN,
        sns_topic_arn=spec.sns_topic_arn,
        identity_store_id=spec.identity_store_id,
        mfa_role_arn=spec.mfa_role_arn,
    )
    resources: dict[str, Any] = {
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": {"Ref": "FunctionName"},
                "Description": "Sentinel credential service (Lambda execution role)",
                "AssumeRolePolicyDocument": s.lambda_trust_policy(),
                "Policies": [{"PolicyName": s.SERVICE_POLICY_NAME, "PolicyDocument": policy}],
            },
        },
        "SessionTable": {
            "Type": "AWS::DynamoDB::Table",
            "Condition": TABLE_IN_STACK,
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": {"Ref": "TableName"},
                **table,
                "TimeToLiveSpecification": {
                    "AttributeName": TABLE.ttl_attribute,
                    "Enabled": True,
                },
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
        "PolicyParameter": {
            "Type": "AWS::SSM::Parameter",
            "Condition": PARAMETER_IN_STACK,
            "Properties": {
                "Name": {"Ref": "PolicyParameterName"},
                "Type": "String",
                "Value": s.INITIAL_POLICY,
                "Description": "Sentinel credential service policy",
            },
        },
        **_function_resources(code),
    }
    doc = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Sentinel credential service. Protected roles are not changed by this "
        "stack: set output ProtectedRoleTrustPolicy as their trust policy.",
        "Parameters": _parameters(spec, with_code=code is None),
        "Conditions": {
            TABLE_IN_STACK: {"Fn::Equals": [{"Ref": CREATE_TABLE}, "true"]},
            PARAMETER_IN_STACK: {"Fn::Equals": [{"Ref": CREATE_PARAMETER}, "true"]},
        },
        "Resources": resources,
        "Outputs": _outputs(),
    }
    out: dict[str, Any] = substituted(doc)
    return out


def _function_resources(code: tuple[str, str] | None) -> dict[str, Any]:
    """The function, its URL and its log group; ``code`` as in :func:`template`."""
    return {
        "LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "LogGroupName": _LOG_GROUP,
                "RetentionInDays": s.LOG_RETENTION_DAYS,
            },
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": ["LogGroup"],
            "Properties": {
                "FunctionName": {"Ref": "FunctionName"},
                "Description": "Sentinel credential service",
                "Runtime": s.RUNTIME,
                "Handler": s.HANDLER,
                "Architectures": [s.ARCHITECTURE],
                "MemorySize": s.MEMORY_MB,
                "Timeout": s.TIMEOUT_SECONDS,
                "Role": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                "Code": (
                    {"S3Bucket": code[0], "S3Key": code[1]}
                    if code
                    else {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
                ),
                "Environment": {
                    "Variables": {
                        s.ENV_TABLE: {"Ref": "TableName"},
                        s.ENV_POLICY_PARAMETER: {"Ref": "PolicyParameterName"},
                        s.ENV_SERVICE_ID: _FUNCTION_ARN,
                    }
                },
            },
        },
        "FunctionUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {
                "TargetFunctionArn": {"Fn::GetAtt": ["Function", "Arn"]},
                "AuthType": s.URL_AUTH_TYPE,
            },
        },
        **sweep_resources(),
    }


def _outputs() -> dict[str, Any]:
    """What the stack reports: the role protected roles trust, the URL, the policies to set."""
    return {
        "ServiceRoleArn": {
            "Description": "The only principal protected roles may trust",
            "Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
        },
        "FunctionUrl": {
            "Description": "The service URL (export SENTINEL_REMOTE=<this>)",
            "Value": {"Fn::GetAtt": ["FunctionUrl", "FunctionUrl"]},
        },
        "ProtectedRoleTrustPolicy": {
            "Description": "Set as the trust policy of every protected role",
            "Value": json.dumps(protected_role_trust_policy("${ExecutionRole.Arn}")),
        },
        "UserPolicy": {
            "Description": "All a user needs: invoke the service",
            "Value": json.dumps(user_invoke_policy("${Function.Arn}")),
        },
    }


def render(spec: s.DeploySpec, code: tuple[str, str] | None = None) -> str:
    return json.dumps(template(spec, code), indent=2) + "\n"


def _parameters(spec: s.DeploySpec, *, with_code: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": {
            "Type": "String",
            "Default": spec.function_name,
            "AllowedPattern": "^[A-Za-z0-9_-]{1,64}$",
            "Description": "Name of the function and of its execution role",
        },
        "TableName": {
            "Type": "String",
            "Default": spec.table,
            "AllowedPattern": "^[A-Za-z0-9_.-]{3,255}$",
            "Description": "The session table",
        },
        "PolicyParameterName": {
            "Type": "String",
            "Default": spec.policy_parameter
            if spec.policy_parameter.startswith("/")
            else f"/{spec.policy_parameter}",
            "AllowedPattern": "^/[A-Za-z0-9_.\\-/]+$",
            "Description": "SSM parameter holding the service's policy (a path starting with /)",
        },
        CREATE_TABLE: {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": "Create the session table in this stack; false if it already exists",
        },
        CREATE_PARAMETER: {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": "Create the policy parameter in this stack; false if it already exists",
        },
    }
    if with_code:
        params |= {
            "CodeS3Bucket": {
                "Type": "String",
                "Description": "Bucket holding the function zip written by --package-out",
            },
            "CodeS3Key": {
                "Type": "String",
                "Default": f"sentinel-tvm-{__version__}.zip",
                "Description": "Key of the function zip in CodeS3Bucket",
            },
        }
    return params


def substituted(node: Any) -> Any:
    """Wrap every string that names a ``${...}`` variable in ``Fn::Sub``."""
    if isinstance(node, dict):
        return {k: substituted(v) for k, v in node.items()}
    if isinstance(node, list):
        return [substituted(v) for v in node]
    if isinstance(node, str) and "${" in node:
        return {"Fn::Sub": node}
    return node
