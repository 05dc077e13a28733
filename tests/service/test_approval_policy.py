"""Issue 21's configuration: group approvers in the document, and what the service's role and
stack grant for approvals (SNS on exactly the topic, the identity store only with groups, the
sweep schedule)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentinelgw.errors import PolicyInvalid
from sentinelgw.service.deploy.cloudformation import template
from sentinelgw.service.deploy.permissions import Target, policy_for
from sentinelgw.service.deploy.schedule import SWEEP_EVENT, is_sweep_event
from sentinelgw.service.deploy.spec import DeploySpec
from sentinelgw.service.document import parse_document
from sentinelgw.service.policies import service_role_policy

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/sentinel-sessions"
PARAM = "arn:aws:ssm:eu-west-1:123456789012:parameter/sentinel/tvm/policy"
ROLE = "arn:aws:iam::123456789012:role/prod"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:sentinel-requests"
STORE = "d-1234567890"
BASE = """
profiles:
  prod: {role_arn: "arn:aws:iam::123456789012:role/prod"}
policies:
  - name: p
    match: {profile: prod}
    effect: require_approval
"""


def _actions(policy: dict[str, Any]) -> dict[str, list[str]]:
    return {a: st["Resource"] for st in policy["Statement"] for a in st["Action"]}


def test_group_approvers_are_read_with_the_identity_store() -> None:
    doc = parse_document(
        BASE
        + f"approvals:\n  identity_store_id: {STORE}\n  identity_store_region: us-east-1\n"
        + "  rules:\n    - {match: {profile: prod},"
        + " approvers: [security, 'group:Prod Approvers']}\n",
        "service.yaml",
    )
    assert doc.approvals.identity_store_id == STORE
    assert doc.approvals.identity_store_region == "us-east-1"
    assert doc.approvals.groups() == ("Prod Approvers",)


@pytest.mark.parametrize(
    "approvals",
    [
        "{rules: [{match: {profile: prod}, approvers: ['group:Oncall']}]}",  # no store
        "{identity_store_id: 'not-a-store', rules: []}",
        "{identity_store_id: d-1234567890, identity_store_region: 'Mars 1', rules: []}",
        "{identity_store_id: d-1234567890, rules: [{match: {profile: prod}, "
        "approvers: ['group:<!channel>']}]}",
        "{identity_store_id: d-1234567890, rules: [{match: {profile: prod}, "
        "approvers: ['group:']}]}",
    ],
)
def test_bad_group_approver_configuration_is_refused_when_loaded(approvals: str) -> None:
    with pytest.raises(PolicyInvalid) as err:
        parse_document(BASE + "approvals: " + approvals + "\n", "service.yaml")
    assert "\n" not in str(err.value)


def test_service_policy_grants_sns_publish_on_exactly_the_configured_topic() -> None:
    plain = _actions(service_role_policy([ROLE], TABLE, PARAM))
    assert not any(a.startswith(("sns:", "identitystore:")) for a in plain)
    granted = _actions(service_role_policy([ROLE], TABLE, PARAM, sns_topic_arn=TOPIC))
    assert granted["sns:Publish"] == [TOPIC]
    assert [a for a in granted if a.startswith("sns:")] == ["sns:Publish"]
    assert not any(a.startswith("identitystore:") for a in granted)


def test_service_policy_reads_the_identity_store_only_when_groups_are_configured() -> None:
    granted = _actions(service_role_policy([ROLE], TABLE, PARAM, identity_store_id=STORE))
    reads = {a: r for a, r in granted.items() if a.startswith("identitystore:")}
    assert set(reads) == {
        "identitystore:GetUserId",
        "identitystore:GetGroupId",
        "identitystore:IsMemberInGroups",
    }
    for resources in reads.values():
        assert f"arn:aws:identitystore::*:identitystore/{STORE}" in resources
        assert "*" not in resources
    assert not any(a.startswith("sns:") for a in granted)


def test_stack_and_permissions_carry_the_same_optional_grants_and_the_sweep_schedule() -> None:
    spec = DeploySpec(
        region="eu-west-1",
        account="123456789012",
        table="sentinel-sessions",
        protected_roles=(ROLE,),
        sns_topic_arn=TOPIC,
        identity_store_id=STORE,
    )
    doc = template(spec)
    res = doc["Resources"]
    [policy] = res["ExecutionRole"]["Properties"]["Policies"]
    actions = _actions(policy["PolicyDocument"])
    assert actions["sns:Publish"] == [TOPIC]
    assert "identitystore:IsMemberInGroups" in actions
    service = _actions(policy_for("service", Target(spec, "bucket")))
    assert service["sns:Publish"] == [TOPIC] and "identitystore:GetUserId" in service
    rule = res["SweepSchedule"]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert json.loads(target["Input"]) == SWEEP_EVENT
    permission = res["SweepPermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["SweepSchedule", "Arn"]}
    deployer = _actions(policy_for("deployer", Target(spec, "bucket")))
    assert deployer["events:PutRule"] == [
        "arn:aws:events:eu-west-1:123456789012:rule/sentinel-tvm-sweep"
    ]
    assert "lambda:AddPermission" in deployer
    plain = template(DeploySpec(region="eu-west-1", account="", table="t"))
    [policy] = plain["Resources"]["ExecutionRole"]["Properties"]["Policies"]
    assert not any(
        a.startswith(("sns:", "identitystore:")) for a in _actions(policy["PolicyDocument"])
    )


def test_only_the_exact_sweep_event_sweeps() -> None:
    assert is_sweep_event({"sentinel": "sweep"})
    url_event = {"requestContext": {"http": {"method": "POST"}}, "rawPath": "/v1/requests"}
    for event in (url_event, {"sentinel": "sweep", "x": 1}, {"sentinel": "SWEEP"}, [], None):
        assert not is_sweep_event(event)


def test_init_tvm_output_carries_the_topic_and_store_and_refuses_bad_ones(run_sentinel) -> None:
    r = run_sentinel(
        [
            "init",
            "tvm",
            "--output",
            "cloudformation",
            "--notify-topic",
            TOPIC,
            "--identity-store",
            STORE,
        ]
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    [policy] = doc["Resources"]["ExecutionRole"]["Properties"]["Policies"]
    assert _actions(policy["PolicyDocument"])["sns:Publish"] == [TOPIC]
    r = run_sentinel(["init", "tvm", "--output", "cloudformation", "--notify-topic", "nope"])
    assert r.returncode == 2 and "--notify-topic" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize("value", ["0", "-1", "3601", "soon"])
def test_sweep_seconds_out_of_range_is_a_config_error(value: str) -> None:
    from sentinelgw.errors import ConfigError
    from sentinelgw.service.settings import settings_from

    base = {"service_id": "x", "table": "t", "policy": "p.yaml", "region": "us-east-1"}
    assert settings_from({**base, "sweep_seconds": "5"}, {}).sweep_seconds == 5.0
    with pytest.raises(ConfigError):
        settings_from({**base, "sweep_seconds": value}, {})


def test_permissions_for_the_service_names_the_topic_and_store_only_when_given(
    run_sentinel,
) -> None:
    base = ["permissions", "--for", "service", "--format", "json", "--account", "123456789012"]
    r = run_sentinel([*base, "--notify-topic", TOPIC, "--identity-store", STORE])
    assert r.returncode == 0, r.stderr
    assert TOPIC in r.stdout and "identitystore:IsMemberInGroups" in r.stdout
    r = run_sentinel(base)
    assert r.returncode == 0, r.stderr
    assert "sns:" not in r.stdout and "identitystore:" not in r.stdout
