"""The service's document: its policy, its profile→role map and its admins, in one YAML file.

It lives where only the security team can write it: an SSM parameter (``ssm:/name``), an S3
object (``s3://bucket/key``) or a file packaged with the service. Nothing a client sends
changes it. Example::

    profiles:
      prod: {role_arn: "arn:aws:iam::123456789012:role/prod"}
      dev:  {role_arn: "arn:aws:iam::123456789012:role/dev"}
      deploy:                     # callers: who may use the profile (see below)
        role_arn: "arn:aws:iam::123456789012:role/deploy"
        callers: [iam-user, "role:ci-*"]
    admins: [security]            # users who may revoke any session through the service
    limits:                       # per user and instance, in a sliding minute (defaults shown)
      session_starts_per_minute: 60
      revokes_per_minute: 10
    policies:                     # the usual policy, either syntax; rules may match role_arn
      - name: prod-tracked
        match: {role_arn: "arn:aws:iam::*:role/prod"}
        effect: require_server_session

:class:`DocumentSource` loads it once, then again when ``refresh`` seconds have passed since
the last load (checked when a request arrives, so it also works in a frozen Lambda). A reload
that fails keeps the last good document for ``max_stale`` seconds, then the service refuses
(fail closed).

``callers`` lists the kinds of caller a profile serves: ``iam-user``, ``identity-center`` and
``role:<name>`` (a role name or glob, for role sessions of that role). Without it, a profile the
policy protects (``require_server_session`` or ``require_server``) serves IAM users and Identity
Center users only, so a blocked user cannot come back as a role session they started
themselves; any other profile serves every kind.

``approvals:`` (who approves access requests for ``require_approval`` profiles) and
``notifications:`` (an SNS topic and/or a webhook) are described in
:mod:`sentinelgw.service.approvals`; ``breakglass:`` (emergency access without approval) in
:mod:`sentinelgw.service.breakglass_rules`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.errors import ConfigError, PolicyInvalid, SentinelError
from sentinelgw.policy.loader import policy_from_doc
from sentinelgw.policy.model import Policy
from sentinelgw.service.approvals import (
    ApprovalPolicy,
    NotifyConfig,
    parse_approvals,
    parse_notifications,
)
from sentinelgw.service.breakglass_rules import BreakGlassPolicy, parse_breakglass
from sentinelgw.yamlsrc import YamlDoc, YamlError, load_yaml

SERVICE_KEYS = ("profiles", "admins", "limits", "approvals", "notifications", "breakglass")
CALLER_KINDS = ("iam-user", "identity-center")
ROLE_CALLER = "role:"
LIMIT_KEYS = {"session_starts_per_minute": 60, "revokes_per_minute": 10}
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PROFILE = re.compile(r"^[\w+=,.@-]{1,64}$")
_ROLE_GLOB = re.compile(r"^[\w+=,.@*?-]{1,64}$")
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """Where a profile leads: the role the service assumes for it."""

    profile: str
    role_arn: str
    # Caller kinds served (CALLER_KINDS and "role:<glob>"); None: the default (module doc).
    callers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ServiceDocument:
    policy: Policy
    profiles: dict[str, Target]
    admins: tuple[str, ...]
    source: str
    limits: dict[str, int] = field(default_factory=lambda: dict(LIMIT_KEYS))
    # Who approves access requests, and where the service announces them (issue 21).
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    notifications: NotifyConfig = field(default_factory=NotifyConfig)
    # Who may open emergency access without approval (issue 22).
    breakglass: BreakGlassPolicy = field(default_factory=BreakGlassPolicy)


def parse_document(text: str | bytes, filename: str) -> ServiceDocument:
    """Validate a service document; raises :class:`PolicyInvalid` naming ``file:line``."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise PolicyInvalid(f"{filename}: the service document is larger than 256 KiB")
    try:
        doc = load_yaml(text, filename)
    except YamlError as exc:
        raise PolicyInvalid(f"{exc}. Fix the YAML syntax") from None
    data = doc.data
    if not isinstance(data, dict):
        raise PolicyInvalid(
            f"{doc.where(())}: the service document must be a mapping with 'profiles:' and a policy"
        )
    profiles = _profiles(doc, data.get("profiles"))
    admins = _admins(doc, data.get("admins"))
    limits = _limits(doc, data.get("limits"))
    approvals = parse_approvals(doc, data.get("approvals"))
    notifications = parse_notifications(doc, data.get("notifications"))
    breakglass = parse_breakglass(doc, data.get("breakglass"))
    rest = {k: v for k, v in data.items() if k not in SERVICE_KEYS}
    policy = policy_from_doc(YamlDoc(data=rest, filename=filename, lines=doc.lines))
    return ServiceDocument(
        policy=policy,
        profiles=profiles,
        admins=admins,
        source=filename,
        limits=limits,
        approvals=approvals,
        notifications=notifications,
        breakglass=breakglass,
    )


def _profiles(doc: YamlDoc, raw: Any) -> dict[str, Target]:
    if raw is None:
        return {}  # a policy alone: valid, and every profile is unknown
    if not isinstance(raw, dict):
        raise PolicyInvalid(
            f"{doc.where(('profiles',))}: 'profiles' must map each profile "
            "name to {role_arn: ARN}"
        )
    out: dict[str, Target] = {}
    for name, entry in raw.items():
        where = doc.where(("profiles", name))
        if not isinstance(name, str) or not _PROFILE.match(name):
            raise PolicyInvalid(f"{where}: invalid profile name {name!r}")
        role = entry.get("role_arn") if isinstance(entry, dict) else None
        if (
            not isinstance(role, str)
            or not _ROLE_ARN.match(role)
            or not {"role_arn"} <= set(entry) <= {"role_arn", "callers"}
        ):
            raise PolicyInvalid(
                f"{where}: profile {name} must be {{role_arn: "
                "arn:aws:iam::<account>:role/<name>, callers: [...]}} (callers optional)"
            )
        callers = _callers(doc, ("profiles", name, "callers"), entry.get("callers", None))
        out[name] = Target(profile=name, role_arn=role, callers=callers)
    return out


def _callers(doc: YamlDoc, path: tuple[str, ...], raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    values = raw if isinstance(raw, list) else [raw]
    for value in values:
        ok = isinstance(value, str) and (
            value in CALLER_KINDS
            or (value.startswith(ROLE_CALLER) and _ROLE_GLOB.match(value[len(ROLE_CALLER) :]))
        )
        if not ok:
            raise PolicyInvalid(
                f"{doc.where(path)}: callers must list iam-user, identity-center or "
                f"role:<role name or glob>, not {value!r}"
            )
    return tuple(values)


def _limits(doc: YamlDoc, raw: Any) -> dict[str, int]:
    limits = dict(LIMIT_KEYS)
    if raw is None:
        return limits
    if not isinstance(raw, dict):
        raise PolicyInvalid(f"{doc.where(('limits',))}: 'limits' must be a mapping")
    for key, value in raw.items():
        if key not in LIMIT_KEYS or not isinstance(value, int) or isinstance(value, bool):
            raise PolicyInvalid(
                f"{doc.where(('limits', key))}: limits takes "
                f"{', '.join(LIMIT_KEYS)}, each a whole number"
            )
        if not 1 <= value <= 10_000:
            raise PolicyInvalid(f"{doc.where(('limits', key))}: {key} must be from 1 to 10000")
        limits[key] = value
    return limits


def _admins(doc: YamlDoc, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    values = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise PolicyInvalid(
            f"{doc.where(('admins',))}: 'admins' must be a list of user names or globs"
        )
    return tuple(v.strip() for v in values)


Fetch = Callable[[], tuple[str, bytes]]
"""Returns ``(version, raw bytes)``; the version lets an unchanged document skip parsing."""


def file_fetch(path: str) -> Fetch:
    p = Path(path).expanduser()

    def fetch() -> tuple[str, bytes]:
        try:
            st = p.stat()
            return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}", p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the service document {p}: {exc.strerror}") from None

    return fetch


def ssm_fetch(client: Any, name: str) -> Fetch:
    def fetch() -> tuple[str, bytes]:
        with aws_call("ssm", "GetParameter", name):
            param = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        return str(param.get("Version")), str(param.get("Value", "")).encode()

    return fetch


def s3_fetch(client: Any, bucket: str, key: str) -> Fetch:
    def fetch() -> tuple[str, bytes]:
        with aws_call("s3", "GetObject", f"s3://{bucket}/{key}"):
            obj = client.get_object(Bucket=bucket, Key=key)
            body = obj["Body"].read(MAX_DOCUMENT_BYTES + 1)
        return str(obj.get("ETag", "")), bytes(body)

    return fetch


def open_fetch(spec: str, client_for: Callable[[str], Any]) -> Fetch:
    """``ssm:/name``, ``s3://bucket/key`` or a file path."""
    if spec.startswith("ssm:"):
        name = spec[4:].strip()
        if not name:
            raise ConfigError(f"invalid document source {spec!r}; use ssm:/parameter/name")
        return ssm_fetch(client_for("ssm"), name)
    if spec.startswith("s3://"):
        bucket, _, key = spec[5:].partition("/")
        if not bucket or not key:
            raise ConfigError(f"invalid document source {spec!r}; use s3://bucket/key")
        return s3_fetch(client_for("s3"), bucket, key)
    return file_fetch(spec)


class DocumentSource:
    """The current :class:`ServiceDocument`, reloaded at most every ``refresh`` seconds."""

    def __init__(
        self,
        spec: str,
        fetch: Fetch,
        *,
        refresh: float = 30.0,
        max_stale: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.refresh = refresh
        self.max_stale = max_stale
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._doc: ServiceDocument | None = None
        self._version: str | None = None
        self._loaded_at = 0.0
        self._failing_since: float | None = None
        self._error: SentinelError | None = None
        self._reload(clock())

    def _reload(self, now: float) -> None:
        try:
            version, raw = self._fetch()
            if self._doc is None or version != self._version:
                self._doc = parse_document(raw, self.spec)
                self._version = version
            self._failing_since, self._error = None, None
        except SentinelError as exc:
            if self._failing_since is None:
                self._failing_since = now
            self._error = exc
        self._loaded_at = now

    def current(self) -> ServiceDocument:
        """The document to apply now; raises when none is loaded or it is too stale."""
        now = self._clock()
        with self._lock:
            if now - self._loaded_at >= self.refresh:
                self._reload(now)
            doc, failing, err = self._doc, self._failing_since, self._error
        if doc is None or (failing is not None and now - failing > self.max_stale):
            raise ConfigError(
                f"the service document {self.spec} cannot be loaded, so the service refuses: {err}"
            )
        return doc

    @property
    def loaded(self) -> bool:
        return self._doc is not None
