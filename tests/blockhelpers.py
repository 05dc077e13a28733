"""Undoing a test's block of a shared sandbox user completely.

``server-revoke --user U --block`` writes U's wildcard Deny on every role U has sessions on,
bounding ``aws:TokenIssueTime`` by the block time plus ``BLOCK_MARGIN`` (a minute), so that a
session racing the block is denied too. ``server-unblock`` lifts the block in the table but
leaves that Deny (it only denies what was issued before its bound). In the shared enforced
sandbox (or the shared local one), a later test that starts a session for U within the minute
would be denied by it: tests that block a shared user lift the wildcards after unblocking.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import boto3

from sentinelgw.sessions.revocation.deny_document import (
    POLICY_NAME,
    user_pattern,
    wildcard_before,
)


def lift_enforced_block(env: dict[str, str], user: str) -> int:
    """:func:`lift_block_wildcards` in the enforced sandbox of ``env``: as its ``security``
    profile (who writes those policies), on the roles its AWS config's profiles name."""
    parser = configparser.ConfigParser()
    parser.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    keys = parser["security"]
    iam = boto3.client(
        "iam",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
    )
    config = configparser.ConfigParser()
    config.read(env["AWS_CONFIG_FILE"])
    roles = {arn.rsplit("/", 1)[-1] for arn in (config[p].get("role_arn") for p in config) if arn}
    return lift_block_wildcards(iam, roles, user)


def lift_block_wildcards(iam: Any, roles: Iterable[str], user: str) -> int:
    """Take ``user`` out of the wildcard statements still in force in the revocation policy of
    each role in ``roles``; returns how many roles were rewritten."""
    pattern, now, removed = user_pattern(user), datetime.now(UTC), 0
    for name in sorted(roles):
        try:
            raw = iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            continue
        doc = json.loads(raw) if isinstance(raw, str) else raw
        statements = doc["Statement"]
        statements = [statements] if isinstance(statements, dict) else statements
        keep = [t for t in (_without(s, pattern, now) for s in statements) if t is not None]
        if keep == statements:
            continue
        removed += 1
        if keep:
            doc["Statement"] = keep
            iam.put_role_policy(
                RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(doc)
            )
        else:
            iam.delete_role_policy(RoleName=name, PolicyName=POLICY_NAME)
    return removed


def _without(statement: dict[str, Any], pattern: str, now: datetime) -> dict[str, Any] | None:
    """The statement without ``pattern`` if it is a wildcard still in force (None: nothing
    left of it); any other statement as it is."""
    bound = wildcard_before(str(statement.get("Sid", "")))
    like = statement.get("Condition", {}).get("StringLike", {})
    patterns = like.get("aws:SourceIdentity", [])
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    if bound is None or bound <= now or pattern not in patterns:
        return statement
    rest = [p for p in patterns if p != pattern]
    if not rest:
        return None
    return {
        **statement,
        "Condition": {**statement["Condition"], "StringLike": {"aws:SourceIdentity": rest}},
    }
