"""A small on-disk cache of issued credentials for ``sentinel credentials``.

The AWS CLI runs credential_process on every invocation, so the warm path must not import
boto3. The cache never changes a decision: the caller evaluates the policy on every call with
the cached user, and an entry is never served within 15 minutes of its expiry (botocore would
otherwise re-run the process on every access: it refreshes credentials that expire within
15 minutes). Files are 0600 in a 0700 folder, and only such files of the current user are
read.
The key covers the profile, the source profile, the region and the AWS config files' identity
(path, size, mtime), so editing the AWS config invalidates it.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelgw.credentials.model import AwsCredentials, CallerIdentity, Issued
from sentinelgw.fsutil import atomic_write, home_dir, private_dir, read_private
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    import boto3

    from sentinelgw.credentials.providers import CredentialPlan, CredentialProvider

MIN_REMAINING = timedelta(minutes=15)


def cache_root(env: Mapping[str, str]) -> Path:
    return home_dir(env) / ".sentinel" / "cache"


def _file_id(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:absent"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def cache_key(
    env: Mapping[str, str], profile: str, aws_profile: str | None, region: str | None
) -> str:
    home = home_dir(env)
    cfg = env.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config")
    creds = env.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials")
    parts = [
        profile,
        aws_profile or "",
        region or "",
        _file_id(cfg),
        _file_id(creds),
        env.get("AWS_ENDPOINT_URL", ""),
        env.get("AWS_ENDPOINT_URL_STS", ""),
    ]
    return "\0".join(parts)


def _path(env: Mapping[str, str], key: str) -> Path:
    # crc32 only names the file; the full key is stored inside and compared on load, so a
    # collision can only cost a cache miss, never serve another profile's credentials.
    return cache_root(env) / f"{zlib.crc32(key.encode()):08x}.json"


def _read_entry(
    env: Mapping[str, str], key: str, time_field: str
) -> tuple[dict[str, Any], datetime] | None:
    """The cache file of ``key`` (only ours: see :func:`load`) and its ``time_field`` as a
    time; ``None`` when it is missing, unreadable, another key's or malformed."""
    try:
        raw = read_private(_path(env, key))
        if raw is None:
            return None
        data = json.loads(raw)
        if data.get("cache_key") != key:
            return None
        when = datetime.fromisoformat(str(data[time_field]).replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return data, when


def load(env: Mapping[str, str], key: str, now: datetime) -> dict[str, Any] | None:
    """The entry for ``key`` if it is valid long enough, and only if it is ours.

    The file is read with ``O_NOFOLLOW`` and must be a regular file owned by the current user
    in a folder of theirs that nobody else can write: an entry planted by another local user
    would otherwise hand the AWS CLI their credentials.
    """
    entry = _read_entry(env, key, "Expiration")
    if entry is None:
        return None
    data, expiration = entry
    if expiration - now < MIN_REMAINING:
        return None
    data["_expiration"] = expiration
    return dict(data)


def store(env: Mapping[str, str], key: str, creds: AwsCredentials, meta: dict[str, Any]) -> None:
    if creds.expiration is None:
        return  # static keys: nothing to gain, and we do not copy long-lived secrets
    root = cache_root(env)
    try:
        private_dir(root)
        document = {
            **meta,
            **creds.process_json(),
            "Expiration": iso(creds.expiration),
            "cache_key": key,
        }
        atomic_write(_path(env, key), json.dumps(document))
    except OSError:
        return  # a cache that cannot be written is only slower


def credentials_from(entry: Mapping[str, Any]) -> AwsCredentials:
    return AwsCredentials(
        access_key_id=str(entry["AccessKeyId"]),
        secret_access_key=str(entry["SecretAccessKey"]),
        session_token=entry.get("SessionToken"),
        expiration=entry["_expiration"],
    )


class CachedProvider:
    """Wraps a provider with the cache: a valid entry answers both ``plan`` and ``retrieve``
    without the inner provider (so without boto3); a miss asks it and stores the result.

    The inner provider is built only on a miss, by ``make_inner``. The entry only replaces
    issuing: the policy gate around this provider still decides on every call.
    """

    def __init__(
        self,
        make_inner: Callable[[], CredentialProvider],
        env: Mapping[str, str],
        key: str,
        now: datetime,
        profile: str,
    ) -> None:
        self._make_inner = make_inner
        self._inner: CredentialProvider | None = None
        self._env = env
        self._key = key
        self._profile = profile
        self._entry = load(env, key, now)

    def inner(self) -> CredentialProvider:
        if self._inner is None:
            self._inner = self._make_inner()
        return self._inner

    def plan(self, request_id: str) -> CredentialPlan:
        entry = self._entry
        if entry is None:
            return self.inner().plan(request_id)
        # Lazy: the providers (and what they import) cost the warm path several milliseconds.
        from sentinelgw.credentials.providers import CredentialPlan

        user = str(entry["user"])
        identity = CallerIdentity(
            arn=str(entry.get("identity_arn")), account="", user_id="", user=user
        )
        cached_id = str(entry.get("request_id") or request_id)
        return CredentialPlan(
            identity, cached_id, entry.get("source_identity"), entry.get("role_arn")
        )

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        entry = self._entry
        if entry is not None:
            return Issued(
                credentials=credentials_from(entry),
                profile=self._profile,
                user=plan.identity.user,
                identity_arn=plan.identity.arn,
                role_arn=entry.get("role_arn"),
                source_identity=plan.source_identity,
                request_id=plan.request_id,
                region=entry.get("region"),
            )
        issued = self.inner().retrieve(plan, duration=duration)
        meta = {
            "user": issued.user,
            "identity_arn": issued.identity_arn,
            "role_arn": issued.role_arn,
            "source_identity": issued.source_identity,
            "request_id": issued.request_id,
            "region": issued.region,
            "profile": issued.profile,
        }
        store(self._env, self._key, issued.credentials, meta)
        return issued

    def source_session(self) -> boto3.Session:
        return self.inner().source_session()


# -- remote sessions: which credential-service session a profile's credential_process uses ----
#
# Through the service, ``sentinel credentials`` and ``export`` reuse one live session per
# profile and service. The entry holds the session id only (never credentials): every call still
# fetches them from the service with a fresh proof, and the service serves them only to the
# session's creator (its verified ARN), re-checking the policy, the record and the user's block.
# The key also covers the caller's identity as this machine knows it (``--aws-profile``, the AWS
# config files, and a digest of ``AWS_ACCESS_KEY_ID`` when set), so another identity never even
# tries another's session.


def remote_session_key(
    env: Mapping[str, str],
    *,
    service_id: str,
    profile: str,
    mode: str,
    aws_profile: str | None,
    duration: int | None,
) -> str:
    import hashlib

    access_key = env.get("AWS_ACCESS_KEY_ID", "")
    caller = hashlib.sha256(access_key.encode()).hexdigest()[:16] if access_key else ""
    parts = [
        "remote-session",
        service_id,
        mode,
        str(duration or ""),
        caller,
        cache_key(env, profile, aws_profile, None),
    ]
    return "\0".join(parts)


def load_remote_session(env: Mapping[str, str], key: str, now: datetime) -> str | None:
    """The cached session id for ``key`` while its session has not reached its end."""
    entry = _read_entry(env, key, "expires_at")
    if entry is None or "session_id" not in entry[0]:
        return None
    data, expires = entry
    session_id = str(data["session_id"])
    return session_id if expires > now else None


def store_remote_session(
    env: Mapping[str, str], key: str, session_id: str, expires_at: str
) -> None:
    try:
        private_dir(cache_root(env))
        document = {"cache_key": key, "session_id": session_id, "expires_at": expires_at}
        atomic_write(_path(env, key), json.dumps(document))
    except OSError:
        return  # without the entry the next call starts a new session


def drop_remote_session(env: Mapping[str, str], key: str) -> None:
    with contextlib.suppress(OSError):
        _path(env, key).unlink()


def clear(env: Mapping[str, str], profile: str | None = None) -> int:
    """Delete cached credentials (of ``profile`` only, if given); the number of entries gone.

    Only the user's own private entries are read; an entry that cannot be read is removed
    when everything is cleared and kept when only one profile's entries are.
    """
    root = cache_root(env)
    if not root.is_dir():
        return 0
    removed = 0
    for path in sorted(root.glob("*.json")):
        if profile is not None and _entry_profile(path) != profile:
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _entry_profile(path: Path) -> str | None:
    """The profile a cache entry was issued for; None for one that is not ours or not JSON."""
    try:
        raw = read_private(path)
        owner = json.loads(raw).get("profile") if raw else None
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None
