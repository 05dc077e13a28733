from __future__ import annotations

import pytest

from sentinelgw.credentials.identity import user_from_arn


@pytest.mark.parametrize(
    ("arn", "user"),
    [
        ("arn:aws:iam::123456789012:user/alice", "alice"),
        ("arn:aws:iam::123456789012:user/team/ops/alice", "alice"),
        ("arn:aws:sts::123456789012:assumed-role/deploy/alice-session", "deploy/alice-session"),
        (
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@example.com",
            "alice@example.com",
        ),
        ("arn:aws-us-gov:iam::123456789012:user/bob", "bob"),
        ("arn:aws:sts::123456789012:federated-user/carol", "federated-user/carol"),
        ("arn:aws:sts::123456789012:user/moto", "moto"),
        ("arn:aws:iam::123456789012:root", "root"),
    ],
)
def test_user_from_arn(arn: str, user: str) -> None:
    assert user_from_arn(arn) == user
