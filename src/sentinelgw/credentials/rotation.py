"""``sentinel rotate``: replace a profile's stored access key, as ``aws-vault rotate`` does.

The order keeps a working key at every step: create a new key with the old one
(``iam:CreateAccessKey``), wait until STS accepts the new key (IAM is eventually consistent),
store it in place of the old one, then delete the old key with the new one
(``iam:DeleteAccessKey``). A failure before the switch deletes the new key again and leaves
the stored key as it was; a failure after it names the old key to delete by hand.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentinelgw.awsclients import aws_call, client
from sentinelgw.credentials.keystore import StoredKeys
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.credentials.providers import caller_identity, session_with
from sentinelgw.errors import AWSError, CredentialError, SentinelError

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.credentials.keystore import KeyStore

VERIFY_ATTEMPTS = 20  # about 20 s: IAM usually makes a new key usable within seconds


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did: the IAM user and the key ids, never the secrets."""

    profile: str
    user: str
    old_key_id: str
    new_key_id: str


def rotate_keys(
    ctx: Context,
    store: KeyStore,
    profile: str,
    region: str | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Rotation:
    old = store.get(profile)
    if old is None:
        raise CredentialError(
            f"no keys are stored for profile {profile!r} in the {store.describe()} keyring",
            hint=f"rotate replaces keys added with: sentinel add {profile}",
        )
    old_session = session_with(AwsCredentials(old.access_key_id, old.secret_access_key), region)
    identity = caller_identity(old_session, region)
    if ":user/" not in identity.arn:
        raise CredentialError(
            f"the keys of profile {profile!r} belong to {identity.arn}, not an IAM user",
            hint="Only an IAM user's access keys can be rotated",
        )
    user = identity.arn.rsplit("/", 1)[-1]
    iam_old = client("iam", session=old_session, region=region)
    with aws_call("iam", "CreateAccessKey", user):
        created = iam_old.create_access_key(UserName=user)["AccessKey"]
    new = StoredKeys(str(created["AccessKeyId"]), str(created["SecretAccessKey"]))
    new_session = session_with(AwsCredentials(new.access_key_id, new.secret_access_key), region)
    try:
        _wait_usable(new_session, region, sleep)
        store.put(profile, new)
    except BaseException:
        _delete_quietly(iam_old, user, new.access_key_id)
        raise
    iam_new = client("iam", session=new_session, region=region)
    try:
        iam_new.delete_access_key(UserName=user, AccessKeyId=old.access_key_id)
    except Exception as exc:
        raise AWSError(
            f"profile {profile!r} now uses the new key {new.access_key_id}, but the old key "
            f"{old.access_key_id} could not be deleted ({type(exc).__name__})",
            hint=f"Delete it: aws iam delete-access-key --user-name {user} "
            f"--access-key-id {old.access_key_id}",
        ) from exc
    return Rotation(profile, user, old.access_key_id, new.access_key_id)


def _wait_usable(session: Any, region: str | None, sleep: Callable[[float], None]) -> None:
    for attempt in range(VERIFY_ATTEMPTS):
        try:
            caller_identity(session, region)
            return
        except SentinelError:
            if attempt == VERIFY_ATTEMPTS - 1:
                raise CredentialError(
                    "the new access key was not accepted by STS in time; it was deleted again "
                    "and the stored key is unchanged",
                    hint="Try sentinel rotate again in a minute",
                ) from None
            sleep(1.0)


def _delete_quietly(iam: Any, user: str, key_id: str) -> None:
    """Undo a created key; the error being raised matters more than this one."""
    with contextlib.suppress(Exception):
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
