"""Verified break-glass MFA on the enforced sandbox, over real HTTP (issue 22).

The sandbox's document requires MFA for alice's break-glass on ``prod-approve`` through its MFA
role (``sentinel-breakglass-mfa``); the sandbox's STS front checks that role's trust conditions
(a valid code of alice's virtual device, the session named ``alice``) and the service reads the
role with ``iam:GetRole`` (kept 1 s in the sandbox). Every test here is refused before a grant
is made, so none of them starts alice's cooldown; the valid code opens the grant in
test_breakglass.py's flow. Tests that edit the role restore it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tvmhelpers import client

from sentinelgw.sandbox.mfa import (
    IDENTITY_POLICY,
    MFA_ROLE,
    create_mfa_role,
    current_code,
    mfa_role_trust,
)
from sentinelgw.service.client import ServiceRefused, ServiceUnavailable

PROFILE = "prod-approve"
WHY = "INC-90: checkout is down in production, rolling back"
ACCOUNT = "123456789012"
MFA_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{MFA_ROLE}"
CACHE = 1.2  # seconds: past the sandbox service's hold on its read of the MFA role


def breakglass(env: dict[str, str], *flags: str) -> Any:
    from tests.conftest import run_cli

    args = ["breakglass", "--profile", PROFILE, "--reason-code", "incident"]
    return run_cli([*args, "--justification", WHY, *flags], env)


def one_line(r: Any) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return str(r.stderr)


def wrong_code(root: Any) -> str:
    """A 6-digit code valid in none of the steps STS accepts now."""
    now = time.time()
    valid = {current_code(root, now + step) for step in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(100000, 100010)) if c not in valid)


def mfa_session(alice: Any, **ask: Any) -> Any:
    """Frozen credentials of a session of ``RoleArn`` (default: the MFA role) as alice."""
    sts = alice.client("sts")
    got = sts.assume_role(
        **{"RoleArn": MFA_ROLE_ARN, "RoleSessionName": "alice", "DurationSeconds": 900, **ask}
    )["Credentials"]
    from botocore.credentials import ReadOnlyCredentials

    return ReadOnlyCredentials(got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"])


def refused(alice_client: Any, creds: Any) -> ServiceRefused:
    with pytest.raises(ServiceRefused) as err:
        alice_client.open_breakglass(PROFILE, "incident", WHY, None, mfa_credentials=creds)
    return err.value


def admin_iam(enforced: Any) -> Any:
    import configparser

    import boto3

    parser = configparser.ConfigParser()
    parser.read(enforced.env["AWS_SHARED_CREDENTIALS_FILE"])
    keys = parser["admin"]
    return boto3.client(
        "iam",
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
        region_name="us-east-1",
        endpoint_url=enforced.endpoint,
    )


@pytest.fixture
def restore_mfa_role(enforced: Any) -> Iterator[Any]:
    """The admin's IAM client; afterwards the MFA role is as the sandbox made it."""
    iam = admin_iam(enforced)
    yield iam
    trust = json.dumps(mfa_role_trust(ACCOUNT, [f"arn:aws:iam::{ACCOUNT}:user/alice"]))
    try:
        role = iam.get_role(RoleName=MFA_ROLE)["Role"]
    except iam.exceptions.NoSuchEntityException:
        role = None
    if role is not None and role["Arn"] == MFA_ROLE_ARN:
        iam.update_assume_role_policy(RoleName=MFA_ROLE, PolicyDocument=trust)
        return
    if role is not None:
        _delete_role(iam)
    create_mfa_role(iam, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice")


def _delete_role(iam: Any) -> None:
    iam.delete_role_policy(RoleName=MFA_ROLE, PolicyName=IDENTITY_POLICY)
    iam.delete_role(RoleName=MFA_ROLE)


def test_breakglass_without_an_mfa_code_is_refused_with_the_one_line_hint(
    alice_env: dict[str, str],
) -> None:
    err = one_line(breakglass(alice_env))
    assert f"break-glass on {PROFILE} requires MFA: pass --mfa-token CODE" in err


def test_breakglass_with_a_wrong_mfa_code_is_refused(
    alice_env: dict[str, str], enforced: Any
) -> None:
    err = one_line(breakglass(alice_env, "--mfa-token", wrong_code(enforced.root)))
    assert "AWS refused the MFA code" in err and MFA_ROLE_ARN in err
    r = breakglass(alice_env, "--mfa-token", "12345x")
    assert r.returncode == 2 and "BadMfaToken" in r.stderr


def test_a_get_session_token_session_without_mfa_cannot_open_breakglass(
    enforced: Any, alice: Any
) -> None:
    # The old (cooperative) hole: temporary credentials of alice made without any MFA code.
    got = alice.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    import boto3

    no_mfa = boto3.Session(
        aws_access_key_id=got["AccessKeyId"],
        aws_secret_access_key=got["SecretAccessKey"],
        aws_session_token=got["SessionToken"],
        region_name="us-east-1",
    )
    # moto cannot map such a session back to alice, so the sandbox's STS rejects its proofs
    # (ProofRejected) where AWS would answer for alice and the service ask for MFA: either
    # way no grant opens (test_mfa_role.py pins the MfaRequired of the AWS case).
    stopped = {"MfaRequired", "ProofRejected"}
    with pytest.raises(ServiceRefused) as err:  # as her proof
        client(enforced, no_mfa).open_breakglass(PROFILE, "incident", WHY, None)
    assert err.value.code in stopped
    # as the MFA proof next to her own: not a session of the MFA role
    as_proof = refused(client(enforced, alice), no_mfa.get_credentials().get_frozen_credentials())
    assert as_proof.code in stopped and "MFA proof" in as_proof.detail
    # and STS gives it no session of the MFA role without a code
    with pytest.raises(ClientError) as denied:
        mfa_session(no_mfa)
    assert denied.value.response["Error"]["Code"] in ("AccessDenied", "InvalidClientTokenId")


def test_a_session_named_alice_of_a_role_without_the_mfa_condition_is_not_mfa(
    enforced: Any, alice: Any
) -> None:
    # alice may assume sentinel-dev (no MFA condition) and name her session "alice"
    lookalike = mfa_session(alice, RoleArn=enforced.role_arn("dev"))
    err = refused(client(enforced, alice), lookalike)
    assert err.code == "MfaRequired" and "must be signed with a session of" in err.detail
    # and the MFA role itself: a valid code but a session named after someone else
    with pytest.raises(ClientError) as denied:
        mfa_session(
            alice,
            RoleSessionName="security",
            SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/alice",
            TokenCode=current_code(enforced.root),
        )
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}},  # the MFA condition gone
        {"Bool": {"aws:MultiFactorAuthPresent": "true"}},  # the session-name pin gone
    ],
    ids=["no-mfa", "no-session-pin"],
)
def test_an_mfa_role_whose_trust_policy_was_edited_to_drop_a_condition_is_refused(
    enforced: Any, alice: Any, restore_mfa_role: Any, condition: dict[str, Any]
) -> None:
    trust = mfa_role_trust(ACCOUNT, [f"arn:aws:iam::{ACCOUNT}:user/alice"])
    trust["Statement"][0]["Condition"] = condition
    restore_mfa_role.update_assume_role_policy(RoleName=MFA_ROLE, PolicyDocument=json.dumps(trust))
    time.sleep(CACHE)  # the service reads the role again
    code = {"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/alice"}
    code["TokenCode"] = current_code(enforced.root)
    creds = mfa_session(alice, **(code if "Bool" in condition else {}))
    err = refused(client(enforced, alice), creds)
    assert err.code == "MfaRoleUntrusted" and "trust policy" in err.detail


def test_mfa_role_unreadable_or_moved_to_another_path_fails_closed(
    enforced: Any, alice: Any, restore_mfa_role: Any
) -> None:
    iam = restore_mfa_role
    code = {"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/alice"}
    creds = mfa_session(alice, TokenCode=current_code(enforced.root), **code)
    a = client(enforced, alice)
    _delete_role(iam)
    time.sleep(CACHE)
    # iam:GetRole fails (the role is gone): the service refuses, it never passes
    with pytest.raises(ServiceUnavailable) as gone:
        a.open_breakglass(PROFILE, "incident", WHY, None, mfa_credentials=creds)
    assert gone.value.code == "MfaRoleUnavailable" and "iam:GetRole" in str(gone.value)
    # a role of the same name under another path, trusting as it should: not the document's
    # role, and the service may read only that one (AccessDenied), so it refuses again
    create_mfa_role(iam, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice", path="/lookalike/")
    time.sleep(CACHE)
    with pytest.raises(ServiceUnavailable) as moved:
        a.open_breakglass(PROFILE, "incident", WHY, None, mfa_credentials=creds)
    assert moved.value.code == "MfaRoleUnavailable" and "AccessDenied" in str(moved.value)
    # (A session of an earlier role of the same name is refused by its RoleId, which moto
    # reports from the current role: test_mfa_role.py pins it.)
