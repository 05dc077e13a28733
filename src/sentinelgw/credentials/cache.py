"""A small on-disk cache of issued credentials for ``sentinel credentials``.

The AWS CLI runs credential_process on every invocation, so the warm path must not import
boto3. The cache never changes a decision: the caller evaluates the policy on every call with
the cached user, and an entry is never served within 15 minutes of its expiry (botocore would
otherwise re-run the process on every access, contracts §3). Files are 0600 in a 0700 folder.
The key covers the profile, the source profile, the region and the AWS config files' identity
(path, size, mtime), so editing the AWS config invalidates it.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.timeutil import iso

MIN_REMAINING = timedelta(minutes=15)


def cache_root(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".sentinel" / "cache"


def _file_id(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:absent"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def cache_key(
    env: Mapping[str, str], profile: str, aws_profile: str | None, region: str | None
) -> str:
    home = env.get("HOME") or os.path.expanduser("~")
    cfg = env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    creds = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
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


def load(env: Mapping[str, str], key: str, now: datetime) -> dict[str, Any] | None:
    try:
        data = json.loads(_path(env, key).read_text(encoding="utf-8"))
        if data.get("cache_key") != key:
            return None
        expiration = datetime.fromisoformat(str(data["Expiration"]).replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if expiration - now < MIN_REMAINING:
        return None
    data["_expiration"] = expiration
    return dict(data)


def store(env: Mapping[str, str], key: str, creds: AwsCredentials, meta: dict[str, Any]) -> None:
    if creds.expiration is None:
        return  # static keys: nothing to gain, and we do not copy long-lived secrets
    root = cache_root(env)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        path = _path(env, key)
        tmp = root / f".{path.stem}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    **meta,
                    **creds.process_json(),
                    "Expiration": iso(creds.expiration),
                    "cache_key": key,
                },
                fh,
            )
        os.replace(tmp, path)
    except OSError:
        return  # a cache that cannot be written is only slower


def credentials_from(entry: Mapping[str, Any]) -> AwsCredentials:
    return AwsCredentials(
        access_key_id=str(entry["AccessKeyId"]),
        secret_access_key=str(entry["SecretAccessKey"]),
        session_token=entry.get("SessionToken"),
        expiration=entry["_expiration"],
    )
