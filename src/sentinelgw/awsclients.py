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

import threading
import weakref
from collections.abc import Callable, Sequence
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
    "new_session",
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

# One botocore data loader per data path (AWS_DATA_PATH / data_path), shared by every session of
# the process: a new session's own loader lists the ~400 service directories and parses each
# service model and endpoint rule set again (0.1 s of CPU per client, most of a second for the
# seven clients of a deployment), which a long-lived process (the service, the dev server) or a
# command making several sessions paid every time. The loader only reads the installed JSON
# files and caches what it parsed.
_LOADERS: dict[Any, Any] = {}
_LOADER_LOCK = threading.Lock()

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


class _SearchPaths(list):  # type: ignore[type-arg]
    """A shared loader's search paths, each once: every ``boto3.Session`` appends boto3's own
    data folder to its loader's paths, which for a loader shared by the whole process would
    grow the list by one entry per session."""

    def append(self, path: Any) -> None:
        if path not in self:
            super().append(path)

    def extend(self, paths: Any) -> None:
        for path in paths:
            self.append(path)


def shared_loader(data_path: str | None = None) -> Any:
    """The process's botocore data loader for ``data_path`` (botocore's ``create_loader``,
    made once per path: see :data:`_LOADERS`)."""
    import os

    with _LOADER_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            extra = [] if data_path is None else data_path.split(os.pathsep)
            paths = _SearchPaths(os.path.expanduser(os.path.expandvars(p)) for p in extra)
            # Loader keeps the list it is given as its search paths (the defaults are added).
            loader = _LOADERS[data_path] = _loader_class()(extra_search_paths=paths)
        return loader


class _ServiceNames(Sequence[str]):
    """``list_available_services``'s answer, listed only when read as a sequence.

    botocore asks it once per model type (service-2, endpoint-rule-set-1) before it loads
    the first client's model, only to check that one name is in it. Listing every service
    folder for that (over 400, with a ``stat`` of each version folder) took about a tenth of a
    ``sentinel credentials`` run: membership here asks for the one service's API versions.
    """

    def __init__(self, loader: Any, type_name: str, full: Callable[[], list[str]]) -> None:
        self._loader = loader
        self._type = type_name
        self._full = full
        self._names: list[str] | None = None

    def _list(self) -> list[str]:
        if self._names is None:
            self._names = self._full()
        return self._names

    def __contains__(self, name: object) -> bool:
        import os

        from botocore.exceptions import DataNotFoundError

        if self._names is not None or not isinstance(name, str):
            return name in self._list()
        if not name or name.startswith(".") or "/" in name or os.sep in name:
            return False
        try:
            # botocore's own listing of one service's versions; it keeps the answer, which
            # the latest-version look-up that follows then reuses.
            return bool(self._loader.list_api_versions(name, self._type))
        except DataNotFoundError:
            return False

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    def __eq__(self, other: object) -> bool:
        return self._list() == (list(other) if isinstance(other, _ServiceNames) else other)

    def __repr__(self) -> str:
        return repr(self._list())


def _loader_class() -> Any:
    import botocore.loaders

    global _LOADER_CLASS
    if _LOADER_CLASS is None:

        class SharedLoader(botocore.loaders.Loader):  # type: ignore[misc]
            def list_available_services(self, type_name: str) -> Any:
                key = ("_sentinel_services", type_name)
                names = self._cache.get(key)
                if names is None:
                    full = super().list_available_services
                    names = _ServiceNames(self, type_name, lambda: full(type_name))
                    self._cache[key] = names
                return names

        _LOADER_CLASS = SharedLoader
    return _LOADER_CLASS


_LOADER_CLASS: Any = None


def share_loaders_process_wide() -> None:
    """From now on every botocore session of this process, including those third-party code
    makes (moto makes one per backend and per region list), uses :func:`shared_loader`.

    For long-lived processes that host such code: the sandbox (``sentinel dev``, the demo,
    the tests). botocore builds each session's loader with its module-level ``create_loader``,
    which this replaces; Sentinel's own sessions come from :func:`new_session` either way.
    """
    import botocore.session

    botocore.session.create_loader = shared_loader


def new_session(
    profile_name: str | None = None, *, core_vars: dict[str, Any] | None = None, **kw: Any
) -> boto3.Session:
    """``boto3.Session(profile_name=..., **kw)`` whose botocore session shares the process's
    data loader (see :data:`_LOADERS`); ``core_vars`` are botocore ``session_vars``."""
    import boto3
    import botocore.session

    core = botocore.session.Session(session_vars=core_vars)
    # As botocore's own factory, but one loader per data path (read once the profile is set:
    # data_path may come from the profile's config).
    core.lazy_register_component(
        "data_loader", lambda: shared_loader(core.get_config_variable("data_path"))
    )
    return boto3.Session(botocore_session=core, profile_name=profile_name, **kw)


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session for ``profile``; None: the default chain, ignoring ``AWS_PROFILE``.

    ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE`` name the profile a user works in (the one
    ``sentinel exec`` defaults to), not the credentials Sentinel itself should use: with
    ``AWS_PROFILE=prod``, botocore would assume the prod role with no SourceIdentity for
    Sentinel's own calls, and the audit would report that session as a gap. So without an
    explicit profile the session reads no profile variable.
    """
    import botocore.exceptions

    try:
        if not profile:
            # "profile" resolved from no environment variable: the [default] profile's
            # settings and the rest of the default chain still apply.
            no_profile = {"profile": (None, None, None, None)}
            return new_session(core_vars=no_profile, region_name=region or None)
        return new_session(profile, region_name=region or None)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS profile {profile!r} was not found in the AWS config",
            hint="Check the name with 'aws configure list-profiles' or set AWS_CONFIG_FILE",
        ) from exc


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
