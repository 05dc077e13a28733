"""The service's own settings: which table, which document, which STS, which id.

They come from the service's environment (the Lambda function's variables) or from a YAML file
given to ``sentinel tvm serve --config``; a client can change none of them.

=============================  =====================================  ========================
variable                       YAML key                               default
=============================  =====================================  ========================
``SENTINEL_TVM_SERVICE_ID``    ``service_id``                         required
``SENTINEL_TVM_TABLE``         ``table``                              required
``SENTINEL_TVM_POLICY``        ``policy``                             required
``SENTINEL_TVM_REGION``        ``region``                             ``AWS_REGION``
``SENTINEL_TVM_STS_ENDPOINT``  ``sts_endpoint``                       ``AWS_ENDPOINT_URL_STS``,
                                                                      ``AWS_ENDPOINT_URL``, else
                                                                      ``https://sts.<region>.amazonaws.com``
``SENTINEL_TVM_ACCOUNTS``      ``accounts`` (list)                    the service's own account
``SENTINEL_TVM_REFRESH``       ``refresh_seconds``                    30 (1 for a file)
``SENTINEL_TVM_MIN_SESSION``   ``min_session_seconds``                60 (the shortest session
                                                                      or renewal lease a caller
                                                                      may ask for)
``SENTINEL_TVM_SWEEP``         ``sweep_seconds``                      30 (how often ``tvm serve``
                                                                      sweeps access requests)
=============================  =====================================  ========================

When the first three are unset, the names a ``sentinel init tvm`` deployment sets are read:
``SENTINEL_SERVICE_ID``, ``SENTINEL_SESSION_TABLE`` and ``SENTINEL_POLICY_PARAMETER`` (an SSM
parameter name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentinelgw.errors import ConfigError
from sentinelgw.yamlsrc import YamlError, load_yaml

ENV = {
    "service_id": "SENTINEL_TVM_SERVICE_ID",
    "table": "SENTINEL_TVM_TABLE",
    "policy": "SENTINEL_TVM_POLICY",
    "region": "SENTINEL_TVM_REGION",
    "sts_endpoint": "SENTINEL_TVM_STS_ENDPOINT",
    "accounts": "SENTINEL_TVM_ACCOUNTS",
    "refresh_seconds": "SENTINEL_TVM_REFRESH",
    "min_session_seconds": "SENTINEL_TVM_MIN_SESSION",
    "sweep_seconds": "SENTINEL_TVM_SWEEP",
}
# The names ``sentinel init tvm`` gives the Lambda function, read when the above are unset.
DEPLOY_ENV = {
    "service_id": "SENTINEL_SERVICE_ID",
    "table": "SENTINEL_SESSION_TABLE",
    "policy": "SENTINEL_POLICY_PARAMETER",
}
MAX_REFRESH = 60.0


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    service_id: str
    table: str
    policy: str
    region: str
    sts_endpoint: str
    accounts: tuple[str, ...] = ()
    refresh_seconds: float = 30.0
    min_session_seconds: int = 60
    sweep_seconds: float = 30.0


def settings_from(
    values: Mapping[str, Any], env: Mapping[str, str], origin: str = "environment"
) -> ServiceSettings:
    """Build settings from ``values`` (YAML keys), falling back to ``env``; validates."""

    def get(key: str) -> Any:
        value = values.get(key)
        if value not in (None, ""):
            return value
        if env.get(ENV[key]):
            return env[ENV[key]]
        deployed = env.get(DEPLOY_ENV.get(key, ""))
        if deployed and key == "policy":
            return f"ssm:{deployed}"  # the deployment stores the document in SSM
        return deployed or None

    missing = [f"{key} ({ENV[key]})" for key in ("service_id", "table", "policy") if not get(key)]
    if missing:
        raise ConfigError(
            f"the service's {origin} does not set {', '.join(missing)}",
            hint="See docs/service.md, 'Configuration'",
        )
    region = get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("the service has no region", hint="Set SENTINEL_TVM_REGION or AWS_REGION")
    sts = (
        get("sts_endpoint")
        or env.get("AWS_ENDPOINT_URL_STS")
        or env.get("AWS_ENDPOINT_URL")
        or f"https://sts.{region}.amazonaws.com"
    )
    if not str(sts).startswith(("https://", "http://127.", "http://localhost", "http://[::1]")):
        raise ConfigError(
            f"the STS endpoint {sts!r} must be https (or loopback http for the sandbox)"
        )
    accounts = get("accounts") or ()
    if isinstance(accounts, str):
        accounts = tuple(a.strip() for a in accounts.split(",") if a.strip())
    if not all(isinstance(a, str | int) and str(a).isdigit() for a in accounts):
        raise ConfigError("accounts must be 12-digit AWS account ids")
    policy = str(get("policy"))
    default_refresh = 1.0 if not policy.startswith(("ssm:", "s3://")) else 30.0
    try:
        refresh = float(get("refresh_seconds") or default_refresh)
    except (TypeError, ValueError):
        raise ConfigError("refresh_seconds must be a number of seconds") from None
    if not 0 < refresh <= MAX_REFRESH:
        raise ConfigError(f"refresh_seconds must be between 0 and {int(MAX_REFRESH)}")
    try:
        min_session = int(get("min_session_seconds") or 60)
    except (TypeError, ValueError):
        raise ConfigError("min_session_seconds must be a whole number of seconds") from None
    if not 1 <= min_session <= 3600:
        raise ConfigError("min_session_seconds must be from 1 to 3600")
    try:
        sweep = float(get("sweep_seconds") or 30.0)
    except (TypeError, ValueError):
        raise ConfigError("sweep_seconds must be a number of seconds") from None
    if not 1 <= sweep <= 3600:
        raise ConfigError("sweep_seconds must be from 1 to 3600")
    return ServiceSettings(
        min_session_seconds=min_session,
        sweep_seconds=sweep,
        service_id=str(get("service_id")),
        table=str(get("table")),
        policy=policy,
        region=str(region),
        sts_endpoint=str(sts).rstrip("/"),
        accounts=tuple(str(a) for a in accounts),
        refresh_seconds=refresh,
    )


def settings_from_file(path: str, env: Mapping[str, str]) -> ServiceSettings:
    """Settings from a YAML file (``tvm serve --config``); variables fill what it leaves out."""
    try:
        with open(path, "rb") as fh:
            doc = load_yaml(fh.read(), path)
    except OSError as exc:
        raise ConfigError(f"cannot read the service config {path}: {exc.strerror}") from None
    except YamlError as exc:
        raise ConfigError(f"{exc}") from None
    data = doc.data or {}
    if not isinstance(data, dict) or set(data) - set(ENV):
        raise ConfigError(f"{path}: the service config is a mapping of {', '.join(sorted(ENV))}")
    return settings_from(data, env, origin=f"config {path}")
