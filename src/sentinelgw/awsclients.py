"""Creating AWS clients (their errors: :mod:`sentinelgw.awserrors`, re-exported here).

boto3 is imported lazily, inside these functions, so that commands which do not talk to AWS
(``sentinel credentials`` with a warm cache, ``policy validate``) start fast.

Every client is made through a ``boto3.Session`` so the standard variables apply exactly as in
the AWS CLI: ``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_REGION`` and
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``. ``AWS_PROFILE`` is the exception: it names
the profile ``exec`` and ``credentials`` default to, never the credentials of Sentinel's own
calls (see :func:`make_session`).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from sentinelgw.awserrors import aws_call, error_code, is_botocore, translate
from sentinelgw.errors import ConfigError

if TYPE_CHECKING:
    import boto3

__all__ = [
    "aws_call",
    "aws_config",
    "client",
    "error_code",
    "is_botocore",
    "make_session",
    "translate",
]

# Sentinel's retry default, used only when the user set neither AWS_MAX_ATTEMPTS nor
# AWS_RETRY_MODE (nor max_attempts / retry_mode in the AWS config profile): then botocore
# applies the user's settings exactly as the AWS CLI does.
DEFAULT_RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 4}
_RETRY_VARIABLES = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")
_RETRY_KEYS = ("max_attempts", "retry_mode")


# The clients made so far, per session (a session's clients go with it).
_CLIENTS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()

# The last parse of the AWS config and credentials files: (their paths and bytes, the parse).
_CONFIG_CACHE: list[tuple[tuple[str, str, bytes | None, bytes | None], dict[str, Any]]] = []


def _read_or_none(path: str) -> bytes | None:
    import os

    try:
        with open(os.path.expanduser(os.path.expandvars(path)), "rb") as fh:
            return fh.read()
    except OSError:
        return None


def aws_config() -> dict[str, Any]:
    """The whole AWS config, as botocore's ``Session().full_config`` builds it: the config
    file's sections (``profiles``, ``sso_sessions``, ...) with the credentials file's profiles
    merged in, from ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` (default
    ``~/.aws/config`` / ``~/.aws/credentials``).

    A new botocore session registers some 850 event handlers (about 20 ms of CPU) before it
    reads a file, and one command asked for the config several times. So the files are parsed
    with botocore's own config loader, and the parse is kept while the two files' paths and
    contents stay the same (they are read again on every call, so an edit applies at once).
    Each caller gets its own copy. Parse errors propagate (configparser's, unchanged).
    """
    import copy
    import os

    config_file = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
    creds_file = os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    key = (config_file, creds_file, _read_or_none(config_file), _read_or_none(creds_file))
    if _CONFIG_CACHE and _CONFIG_CACHE[0][0] == key:
        return copy.deepcopy(_CONFIG_CACHE[0][1])
    import botocore.configloader
    from botocore.exceptions import ConfigNotFound

    try:
        config: dict[str, Any] = botocore.configloader.load_config(config_file)
    except ConfigNotFound:
        config = {"profiles": {}}
    try:
        cred_profiles = botocore.configloader.raw_config_parse(creds_file)
    except ConfigNotFound:
        cred_profiles = {}
    for name, values in cred_profiles.items():
        config["profiles"].setdefault(name, {}).update(values)
    _CONFIG_CACHE[:] = [(key, config)]
    return copy.deepcopy(config)


def user_sets_retries(sess: boto3.Session | None = None) -> bool:
    """True when the environment or the session's AWS config profile sets retry behaviour."""
    import os

    if any(os.environ.get(name) for name in _RETRY_VARIABLES):
        return True
    if sess is None:
        return False
    try:
        # The session's profile as botocore scopes it (only public API is read).
        scoped = aws_config().get("profiles", {}).get(sess.profile_name) or {}
    except Exception:  # a broken config file is reported by the client call itself
        return False
    return any(scoped.get(key) not in (None, "") for key in _RETRY_KEYS)


def retries_for(sess: boto3.Session | None, max_attempts: int | None = None) -> dict[str, Any]:
    """The ``retries`` entry of a botocore Config, or {} to let the user's settings apply.

    ``max_attempts=0`` means the caller retries by itself (the audit's paced loop) and always
    holds; any other per-call default yields to ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE``.
    """
    if max_attempts == 0:
        return {"retries": {"mode": "standard", "max_attempts": 0}}
    if user_sets_retries(sess):
        return {}
    attempts = DEFAULT_RETRIES["max_attempts"] if max_attempts is None else max_attempts
    return {"retries": {"mode": DEFAULT_RETRIES["mode"], "max_attempts": attempts}}


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session for ``profile``; None: the default chain, ignoring ``AWS_PROFILE``.

    ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE`` name the profile a user works in (the one
    ``sentinel exec`` defaults to), not the credentials Sentinel itself should use: with
    ``AWS_PROFILE=prod``, botocore would assume the prod role with no SourceIdentity for
    Sentinel's own calls, and the audit would report that session as a gap. So without an
    explicit profile the session reads no profile variable.
    """
    import boto3
    import botocore.exceptions
    import botocore.session

    try:
        if not profile:
            # "profile" resolved from no environment variable: the [default] profile's
            # settings and the rest of the default chain still apply.
            core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
            return _with_shared_loader(core, boto3.Session, region)
        core = botocore.session.Session(profile=profile)
        return _with_shared_loader(core, boto3.Session, region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS profile {profile!r} was not found in the AWS config",
            hint="Check the name with 'aws configure list-profiles' or set AWS_CONFIG_FILE",
        ) from exc


# botocore's data loaders, per AWS_DATA_PATH: one per process, shared by every session.
_LOADERS: dict[Any, Any] = {}


def _with_shared_loader(core: Any, session: Any, region: str | None) -> boto3.Session:
    """A boto3 session over ``core`` that uses the process's data loader.

    Each botocore session otherwise has a loader of its own, which parses the endpoint rules
    and each service's model (JSON files of several MB) again: a process that makes several
    sessions (a long-running server, a command per profile) would parse them each time. The
    loader keeps what it parsed and is keyed by ``AWS_DATA_PATH`` (``data_path``), so a
    changed path still gets its own.
    """
    import botocore.loaders

    data_path = core.get_config_variable("data_path")  # ProfileNotFound for an unknown profile
    loader = _LOADERS.get(data_path)
    if loader is None:
        loader = _LOADERS.setdefault(data_path, botocore.loaders.create_loader(data_path))
    core.register_component("data_loader", loader)
    made = session(botocore_session=core, region_name=region or None)
    # boto3 appends its own data folder to the loader's search paths for every session: drop
    # the repeat (from the end, so a look-up running in another thread is not disturbed).
    paths = loader.search_paths
    if len(paths) > 1 and paths[-1] in paths[:-1]:
        paths.pop()
    return made


def client(
    service: str,
    *,
    session: boto3.Session | None = None,
    profile: str | None = None,
    region: str | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A botocore client; endpoints and retry settings come from the usual variables.

    Retries follow ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` (or the profile's ``max_attempts``
    / ``retry_mode``) when set, else Sentinel's default (:data:`DEFAULT_RETRIES`, or the
    caller's ``max_attempts``).
    """
    from botocore.config import Config

    sess = session or make_session(profile, region)
    cfg: dict[str, Any] = retries_for(sess, max_attempts)
    if connect_timeout is not None:
        cfg["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        cfg["read_timeout"] = read_timeout
    import os

    # One client per session, service and settings: a second client of the same service
    # (GetCallerIdentity, then AssumeRole on the same source session) would load the service
    # model and endpoint rules again. The AWS_* variables are part of the key, so a changed
    # endpoint or setting gets a new client. Clients are thread-safe; sessions are not shared.
    key = (
        service,
        region or None,
        repr(sorted(cfg.items())),
        tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))),
    )
    clients = _CLIENTS.setdefault(sess, {})
    if key in clients:
        return clients[key]
    try:
        with aws_call(service, "client"):  # NoRegionError, ProfileNotFound
            made = sess.client(service, region_name=region or None, config=Config(**cfg))
    except ValueError as exc:  # botocore's "Invalid endpoint: ..." (a setting, not a bug)
        raise ConfigError(
            f"cannot make a {service} client: {' '.join(str(exc).split())[:200]}",
            hint="Check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>",
        ) from exc
    clients[key] = made
    return made
