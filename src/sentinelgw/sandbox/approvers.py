"""The sandbox's Identity Center approvers and notification topic (issue 21).

``sentinel dev`` (enforced) provisions, inside moto:

- an identity store (:data:`IDENTITY_STORE_ID`) with the user :data:`APPROVER_USER` in the
  group :data:`APPROVER_GROUP`, named as an approver of ``prod-approve`` in the service's
  document (``group:Prod Approvers``): the service checks that membership itself when an
  Identity Center caller approves;
- the SNS topic :data:`TOPIC_NAME`, the document's ``notifications.sns_topic_arn``, with the
  SQS queue :data:`QUEUE_NAME` subscribed, so what the service published can be read back.

The service's IAM user gets exactly the statements the production policy builder adds for
them (``sns:Publish`` on the topic, the identity store reads), so the sandbox exercises them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IDENTITY_STORE_ID = "d-9067a1b2c3"
APPROVER_GROUP = "Prod Approvers"
APPROVER_USER = "carol"
OUTSIDER_USER = "dave"  # an Identity Center user in no approver group
TOPIC_NAME = "sentinel-requests"
QUEUE_NAME = "sentinel-requests-inbox"


@dataclass(frozen=True)
class Approvers:
    identity_store_id: str
    group: str
    topic_arn: str
    queue_url: str


def provision_approvers(client: Callable[[str], Any]) -> Approvers:
    """Create the identity store's users and group, the topic and its queue."""
    ids = client("identitystore")
    users = {}
    for name in (APPROVER_USER, OUTSIDER_USER):
        users[name] = ids.create_user(
            IdentityStoreId=IDENTITY_STORE_ID,
            UserName=name,
            DisplayName=name.title(),
            Name={"GivenName": name.title(), "FamilyName": "Sandbox"},
        )["UserId"]
    group = ids.create_group(
        IdentityStoreId=IDENTITY_STORE_ID,
        DisplayName=APPROVER_GROUP,
        Description="Approve access to prod-approve",
    )["GroupId"]
    ids.create_group_membership(
        IdentityStoreId=IDENTITY_STORE_ID, GroupId=group, MemberId={"UserId": users[APPROVER_USER]}
    )
    sns, sqs = client("sns"), client("sqs")
    topic = str(sns.create_topic(Name=TOPIC_NAME)["TopicArn"])
    queue = str(sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return Approvers(
        identity_store_id=IDENTITY_STORE_ID, group=APPROVER_GROUP, topic_arn=topic, queue_url=queue
    )
