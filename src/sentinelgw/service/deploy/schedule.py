"""The scheduled sweep of a Lambda deployment: expiry without traffic.

A long-running host (``sentinel tvm serve``, the sandbox) sweeps access requests on a timer
(:func:`sentinelgw.service.sweep.start_sweeper`). A Lambda function runs only when invoked, so
the stack adds an EventBridge rule that invokes it every minute with :data:`SWEEP_EVENT`, and
a resource policy statement that lets EventBridge (that rule only) invoke it. The handler
answers that event by sweeping (:mod:`sentinelgw.service.lambda_handler`): pending requests
past their wait expire, approvals past their end expire and their sessions are revoked, even
when nobody calls the service.

The sweep event carries no authority: whoever sends it (a user may invoke the function
directly) only makes the service do what it would do a minute later anyway.
"""

from __future__ import annotations

import json
from typing import Any

SWEEP_EVENT = {"sentinel": "sweep"}
SWEEP_RATE = "rate(1 minute)"
RULE_SUFFIX = "-sweep"
# What the deployer needs for the two resources.
EVENT_DEPLOY_ACTIONS = (
    "events:PutRule",
    "events:DescribeRule",
    "events:DeleteRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:ListTargetsByRule",
)
PERMISSION_DEPLOY_ACTIONS = ("lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy")


def sweep_resources(function: str = "Function") -> dict[str, Any]:
    """The rule and the permission, for the template's ``Resources`` (``function`` is the
    function's logical id)."""
    return {
        "SweepSchedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": "${FunctionName}" + RULE_SUFFIX,
                "Description": "Sentinel: expire access requests and end approvals on time",
                "ScheduleExpression": SWEEP_RATE,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "sentinel-sweep",
                        "Arn": {"Fn::GetAtt": [function, "Arn"]},
                        "Input": json.dumps(SWEEP_EVENT),
                    }
                ],
            },
        },
        "SweepPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": function},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": ["SweepSchedule", "Arn"]},
            },
        },
    }


def is_sweep_event(event: Any) -> bool:
    return isinstance(event, dict) and event == SWEEP_EVENT
