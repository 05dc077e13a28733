"""Where the policy comes from: a file, an SSM parameter, or the config's inline policy.

``PolicySource.current()`` is cheap, so the credential server calls it on every request and a
changed policy applies to the next one:

* a file is re-``stat``-ed on each call and reloaded only when its mtime, size or inode
  changed; a reload that does not validate raises :class:`PolicyInvalid` (fail closed) until the
  file is fixed;
* an SSM parameter is read once when opened and then, after ``start_refresh(interval)``, by a
  background thread. ``current()`` returns the last policy that validated; when refreshes have
  failed for longer than ``max_stale`` seconds it raises instead (fail closed);
* an inline policy comes from the config the loader already parsed, then its file is watched
  like a policy file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelgw.awserrors import aws_call
from sentinelgw.errors import (
    AWSError,
    ConfigError,
    NoPolicyConfigured,
    PolicyInvalid,
    SentinelError,
    UsageError,
)
from sentinelgw.policy.loader import load_policy_text, policy_from_doc
from sentinelgw.policy.model import Policy

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.yamlsrc import YamlDoc

DEFAULT_MAX_STALE = 30.0


class PolicySource:
    """Base class: ``current()`` gives the policy to apply now; ``describe()`` names it."""

    def current(self) -> Policy:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def start_refresh(self, interval_seconds: float) -> None:
        """Keep the policy fresh in the background (only SSM needs it; a no-op otherwise)."""

    def close(self) -> None:
        """Stop any background refresh."""


class FilePolicySource(PolicySource):
    """A policy file, reloaded when it changes on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._policy: Policy | None = None
        self.current()

    def describe(self) -> str:
        return str(self.path)

    def current(self) -> Policy:
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                raise ConfigError(
                    f"policy file {self.path} does not exist",
                    hint="Check --policy or policy_source in the config",
                ) from None
            except OSError as exc:
                raise ConfigError(f"cannot read policy file {self.path}: {exc.strerror}") from None
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            if self._policy is not None and key == self._key:
                return self._policy
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read policy file {self.path}: {exc.strerror}") from None
            # On failure the key stays old, so every call retries until the file is fixed.
            policy = load_policy_text(raw, str(self.path))
            self._policy, self._key = policy, key
            return policy


class InlinePolicySource(FilePolicySource):
    """The inline ``policies:`` of a config file.

    The first policy comes from the document the config loader already parsed (no second
    parse on the fast path); after that the file is watched like a policy file, so editing
    ``sentinel.yaml`` while a server runs applies to the next request.
    """

    def __init__(self, doc: YamlDoc) -> None:
        self.path = Path(doc.filename)
        self._lock = threading.Lock()
        st = os.stat(self.path)
        self._key = (st.st_mtime_ns, st.st_size, st.st_ino)
        self._policy = policy_from_doc(doc)

    def describe(self) -> str:
        return f"inline policy in {self.path}"


class SSMPolicySource(PolicySource):
    """A policy stored in an SSM parameter (String or SecureString, decrypted)."""

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        max_stale: float = DEFAULT_MAX_STALE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_stale = max_stale
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cached: tuple[Any, Policy] | None = None
        self._failing_since: float | None = None
        self._last_error: SentinelError | None = None
        self._policy = self._fetch()

    def describe(self) -> str:
        return f"ssm:{self.name}"

    def _fetch(self) -> Policy:
        with aws_call(
            "ssm",
            "GetParameter",
            f"SSM parameter {self.name}",
            missing="Check the name and --region, or create it with aws ssm put-parameter "
            f"--name {self.name} --type SecureString --value file://policy.yaml",
        ):
            resp = self._client.get_parameter(Name=self.name, WithDecryption=True)
        param = resp.get("Parameter", {})
        version = param.get("Version")
        with self._lock:
            cached = self._cached
        # An unchanged version needs no re-parse; every refresh is then one cheap GetParameter.
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        policy = load_policy_text(str(param.get("Value", "")), self.describe())
        with self._lock:
            self._cached = (version, policy)
        return policy

    def refresh_once(self) -> bool:
        """Re-read the parameter now; True if it succeeded. Failures are kept for current()."""
        try:
            policy = self._fetch()
        except SentinelError as exc:
            with self._lock:
                self._last_error = exc
                if self._failing_since is None:
                    self._failing_since = self._clock()
            return False
        with self._lock:
            self._policy = policy
            self._failing_since = None
            self._last_error = None
        return True

    def current(self) -> Policy:
        with self._lock:
            if self._failing_since is not None:
                stale = self._clock() - self._failing_since
                if stale > self.max_stale:
                    err = self._last_error
                    kind = "is invalid" if isinstance(err, PolicyInvalid) else "cannot be read"
                    raise AWSError(
                        f"the policy in {self.describe()} {kind} and has not refreshed for "
                        f"{int(stale)}s (limit {int(self.max_stale)}s), so requests are refused: "
                        f"{err}"
                    )
            return self._policy

    def start_refresh(self, interval_seconds: float) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run,
            args=(interval_seconds,),
            name=f"policy-refresh {self.describe()}",
            daemon=True,
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.refresh_once()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def open_policy_source(
    spec: str | None, app: Context, *, debug_policy: bool = False
) -> PolicySource:
    """The policy source for ``--policy`` (``spec``), else ``policy_source:``, else inline.

    When the system or user config pins a central ``policy_source``, ``--policy`` is refused:
    a user could otherwise pass an allow-everything file. ``debug_policy`` lets a policy
    author try a file anyway, and that use is written to the decision log (or stderr).
    """
    if spec:
        check_override(spec, app, debug_policy)
    if not spec:
        cfg = app.config()
        if cfg.policy_source is not None:
            spec = str(cfg.policy_source.value)
        elif cfg.inline_policy is not None:
            doc = cfg.inline_policy
            return InlinePolicySource(doc)
        else:
            raise NoPolicyConfigured(
                "no policy configured",
                hint="Pass --policy FILE or --policy ssm:/NAME, set policy_source in the config, "
                "or add policies: to ./sentinel.yaml or ~/.sentinel/config.yaml",
            )
    if spec.startswith("ssm:"):
        name = spec[len("ssm:") :].strip()
        if not name:
            raise ConfigError(
                f"invalid policy source {spec!r}",
                hint="Name the parameter, e.g. ssm:/sentinel/policies/prod",
            )
        return SSMPolicySource(name, app.client("ssm"))
    return FilePolicySource(spec)


def check_override(spec: str, app: Context, debug_policy: bool) -> None:
    """Refuse ``--policy`` over a pinned central source, unless ``debug_policy`` (logged)."""
    cfg = app.config()
    pinned = cfg.policy_source
    if not cfg.policy_pinned or pinned is None:
        return
    if not debug_policy:
        raise UsageError(
            f"--policy is refused: the policy source {pinned.value} is pinned by {pinned.source}",
            hint="Drop --policy, or add --debug-policy to try a policy file (the use is logged)",
        )
    app.decision_log().warn(
        f"--debug-policy: using {spec} instead of the pinned policy source {pinned.value} "
        f"({pinned.source})",
        event="debug_policy",
    )
