"""Credential kinds behind one small protocol, and the layers composed around them.

A provider answers two questions: who is asking (:meth:`CredentialProvider.plan`, which
costs at most one ``sts:GetCallerIdentity``) and, once the policy said yes, the credentials
themselves (:meth:`CredentialProvider.retrieve`). The kinds:

- :class:`RoleProvider`: Sentinel's own ``sts:AssumeRole`` with a SourceIdentity
  (``sentinel.<user>.<id>``) on every role session. Source credentials come from the
  profile's ``source_profile`` / ``credential_source``, else from ``--aws-profile``.
- :class:`SSOProvider`: ``sso:GetRoleCredentials`` with the token ``aws sso login`` cached.
- :class:`StaticProvider`: keys (or a ``credential_process``) botocore resolves itself, or
  keys ``sentinel add`` stored in the keyring (:mod:`sentinelgw.credentials.keystore`), which
  come first. Long-term keys are exchanged for a session (``sts:GetSessionToken``, as
  aws-vault does) unless ``--no-session`` asks for the keys themselves.

Layers wrap any provider, as aws-vault's ``CachedSessionProvider`` wraps its providers:
:class:`CachedProvider` (the 0600 on-disk cache of ``sentinel credentials``) and
:class:`PolicyGate` (evaluates the policy and writes the decision log line before anything is
issued). :func:`provider_for` is the one place that maps a profile's kind to a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sentinelgw.awsclients import client, make_session, new_session, translate
from sentinelgw.credentials.identity import user_from_arn
from sentinelgw.credentials.model import AwsCredentials, CallerIdentity, Issued
from sentinelgw.credentials.profiles import Profile, load_profile
from sentinelgw.errors import ConfigError, CredentialError
from sentinelgw.sourceidentity import format_source_identity, new_id
from sentinelgw.timeutil import format_duration

if TYPE_CHECKING:
    import boto3

    from sentinelgw.context import Context

DEFAULT_DURATION = 3600
CHAINED_MAX_DURATION = 3600  # STS's limit for a role session assumed by a role session
MAX_CHAIN = 8  # role profiles in one source_profile chain


@dataclass(frozen=True)
class CredentialPlan:
    """Who asks and what the credentials will carry; decided on before any secret exists."""

    identity: CallerIdentity
    request_id: str
    source_identity: str | None
    # The role the profile resolves to (None for non-role kinds): policies can match it, so
    # a profile alias of a protected role meets that role's rule.
    role_arn: str | None = None


class CredentialProvider(Protocol):
    def plan(self, request_id: str) -> CredentialPlan:
        """The requesting identity, and the SourceIdentity the credentials would carry."""
        ...

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        """Credentials for ``plan`` (``duration`` in seconds where the kind supports it)."""
        ...

    def source_session(self) -> boto3.Session:
        """The boto3 session holding the caller's own (source) credentials."""
        ...


class ProfileProvider:
    """One AWS profile; the kinds share the source session and GetCallerIdentity."""

    def __init__(self, ctx: Context, profile: Profile, region: str | None) -> None:
        self.ctx = ctx
        self.profile = profile
        self.region = region or profile.region
        self._source: boto3.Session | None = None
        self._identity: CallerIdentity | None = None

    def _make_source(self) -> boto3.Session:
        stored = stored_keys(self.ctx, self.profile.name)
        if stored is not None:
            return session_with(AwsCredentials(*stored), self.region)
        return make_session(self.profile.name, self.region)

    def source_session(self) -> boto3.Session:
        if self._source is None:
            self._source = self._make_source()
        return self._source

    def profile_session(self) -> boto3.Session:
        """A session with the profile's own credentials (for a role profile: the role's)."""
        return self.source_session()

    def identity(self) -> CallerIdentity:
        """The requesting user: GetCallerIdentity of the source credentials."""
        if self._identity is None:
            self._identity = caller_identity(self.source_session(), self.region)
        return self._identity

    def plan(self, request_id: str) -> CredentialPlan:
        return CredentialPlan(self.identity(), request_id, None, self.profile.role_arn)

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        creds = self.source_session().get_credentials()
        if creds is None:
            raise CredentialError(
                f"profile {self.profile.name!r} has no usable credentials",
                hint="Check the profile in the AWS config, or use a role profile",
            )
        frozen = creds.get_frozen_credentials()
        expiry = getattr(creds, "_expiry_time", None)
        expiration = expiry if isinstance(expiry, datetime) else None
        keys = AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token, expiration)
        return self._issued(keys, plan)

    def _issued(self, creds: AwsCredentials, plan: CredentialPlan) -> Issued:
        return Issued(
            credentials=creds,
            profile=self.profile.name,
            user=plan.identity.user,
            identity_arn=plan.identity.arn,
            role_arn=self.profile.role_arn,
            source_identity=plan.source_identity,
            request_id=plan.request_id,
            region=self.region,
        )


class StaticProvider(ProfileProvider):
    """Keys in the keyring or the AWS config (or anything else botocore resolves for the
    profile). Long-term keys become a ``GetSessionToken`` session unless ``session`` is off,
    so the child never holds a key that lives until someone deletes it."""

    session = True

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        issued = super().retrieve(plan)
        if not self.session or issued.credentials.session_token:
            return issued  # --no-session, or already temporary (a process, the environment)

        params: dict[str, Any] = {"DurationSeconds": duration or DEFAULT_DURATION}
        serial = self.profile.get("mfa_serial")
        if serial:
            params["SerialNumber"] = serial
            params["TokenCode"] = self.ctx.mfa_code(serial)
        sts = client("sts", session=self.source_session(), region=self.region)
        try:
            c = sts.get_session_token(**params)["Credentials"]
        except Exception as exc:
            raise translate(exc, "sts", "GetSessionToken", self.profile.name) from exc
        keys = AwsCredentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]
        )
        return self._issued(keys, plan)


class SSOProvider(ProfileProvider):
    """IAM Identity Center: role credentials from the cached ``aws sso login`` token."""

    def _make_source(self) -> boto3.Session:
        # Lazy: every command loads this module (cli.common), only SSO profiles need sso.py.
        from sentinelgw.credentials.sso import sso_boto3_session

        return sso_boto3_session(self.ctx, self.profile, self.region)


class RoleProvider(ProfileProvider):
    """Sentinel's own AssumeRole, so every role session carries a SourceIdentity.

    A ``source_profile`` that is itself a role profile is assumed by Sentinel too (not by
    botocore, which would set no SourceIdentity), with the same request id: STS keeps a
    session's SourceIdentity through role chaining and refuses a different one, so both hops
    carry ``sentinel.<user>.<id>`` of the user at the start of the chain.
    """

    def __init__(
        self, ctx: Context, profile: Profile, region: str | None, *, depth: int = 0
    ) -> None:
        super().__init__(ctx, profile, region)
        self._inner = self._chained(depth)
        self._inner_plans: dict[str, CredentialPlan] = {}

    def _chained(self, depth: int) -> RoleProvider | None:
        src = self.profile.get("source_profile")
        if not src or src == self.profile.name:
            return None  # no source, or keys in the role profile itself
        source = find_profile(self.ctx, src)
        if source.kind != "role":
            return None
        if depth >= MAX_CHAIN:
            raise ConfigError(
                f"profile {self.profile.name!r}: a chain of more than {MAX_CHAIN} role "
                "profiles through source_profile (or a loop)",
                hint="Check the source_profile settings in the AWS config",
            )
        return RoleProvider(self.ctx, source, self.region, depth=depth + 1)

    def identity(self) -> CallerIdentity:
        return self._inner.identity() if self._inner else super().identity()

    def _session_for(self, plan: CredentialPlan) -> boto3.Session:
        """The source session for ``plan``: for a chain, the inner role assumed afresh."""
        if self._inner is None:
            return self.source_session()
        inner_plan = self._inner_plans.get(plan.request_id) or self._inner.plan(plan.request_id)
        return session_with(self._inner.retrieve(inner_plan).credentials, self.region)

    def _make_source(self) -> boto3.Session:
        if self._inner is not None:
            # The inner role of a chain, assumed by Sentinel with a SourceIdentity.
            return self._session_for(self.plan(new_id()))
        p = self.profile
        src = p.get("source_profile")
        if src:
            return profile_session(self.ctx, src, self.region)
        if p.get("credential_source"):
            # Environment / Ec2InstanceMetadata / EcsContainer: botocore's default chain
            # finds the same credentials without the profile.
            return make_session(None, self.region)
        if self.ctx.aws_profile:
            # A role profile with no source of its own takes --aws-profile's credentials
            # (an SSO login, typically).
            return self.ctx.aws_session(self.region)
        raise ConfigError(
            f"profile {p.name!r} has role_arn but neither source_profile nor credential_source",
            hint="Add source_profile, or pass --aws-profile with the source credentials",
        )

    def profile_session(self) -> boto3.Session:
        return make_session(self.profile.name, self.region)  # botocore assumes the role

    def plan(self, request_id: str) -> CredentialPlan:
        if self._inner is not None:
            inner = self._inner.plan(request_id)
            self._inner_plans[request_id] = inner
            return CredentialPlan(
                inner.identity, request_id, inner.source_identity, self.profile.role_arn
            )
        user = self.identity().user
        return CredentialPlan(
            self.identity(),
            request_id,
            format_source_identity(user, request_id),
            self.profile.role_arn,
        )

    def retrieve(self, plan: CredentialPlan, *, duration: int | None = None) -> Issued:
        p = self.profile
        if self._inner is not None:
            # STS caps a chained role session at one hour.
            duration = min(duration or DEFAULT_DURATION, CHAINED_MAX_DURATION)
        elif duration is not None:
            duration = self._role_capped(duration)
        params: dict[str, Any] = {
            "RoleArn": p.role_arn,
            "RoleSessionName": plan.source_identity,
            "SourceIdentity": plan.source_identity,
            "DurationSeconds": duration or _int(p.get("duration_seconds")) or DEFAULT_DURATION,
        }
        if p.get("external_id"):
            params["ExternalId"] = p.get("external_id")
        serial = p.get("mfa_serial")
        if serial:
            params["SerialNumber"] = serial
            params["TokenCode"] = self.ctx.mfa_code(serial)
        sts = client("sts", session=self._session_for(plan), region=self.region)
        try:
            resp = sts.assume_role(**params)
        except Exception as exc:
            raise translate(exc, "sts", "AssumeRole", str(p.role_arn)) from exc
        c = resp["Credentials"]
        keys = AwsCredentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]
        )
        return self._issued(keys, plan)

    def _role_capped(self, duration: int) -> int:
        """``duration`` shortened to the role's MaxSessionDuration when ``iam:GetRole`` can
        read it; otherwise unchanged (STS then refuses a duration above the maximum)."""
        if duration <= DEFAULT_DURATION or not self.profile.role_arn:
            return duration  # every role allows at least one hour
        name = self.profile.role_arn.rsplit("/", 1)[-1]
        try:
            iam = client("iam", session=self.source_session(), region=self.region)
            maximum = int(iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"])
        except Exception:
            return duration
        if duration > maximum:
            from datetime import timedelta

            cap = format_duration(timedelta(seconds=maximum))
            self.ctx.note(f"note: --duration capped at {cap}, the role's MaxSessionDuration")
            return maximum
        return duration


# The one map from a profile's kind to its provider; any other kind is left to botocore.
KINDS: Mapping[str, type[ProfileProvider]] = {"role": RoleProvider, "sso": SSOProvider}


def provider_for(
    ctx: Context, name: str, region: str | None, *, session: bool = True
) -> ProfileProvider:
    """The provider of profile ``name``; ``session=False`` (``--no-session``) hands out a
    static profile's long-term keys as they are."""
    profile = find_profile(ctx, name)
    provider = KINDS.get(profile.kind, StaticProvider)(ctx, profile, region)
    if isinstance(provider, StaticProvider):
        provider.session = session
    return provider


def find_profile(ctx: Context, name: str) -> Profile:
    """Profile ``name`` of the AWS config; a profile only ``sentinel add`` knows (keys in the
    keyring, no section in the config) is a static profile with no settings."""
    try:
        return load_profile(name)
    except ConfigError:
        # Lazy: the keyring backends are slow to load and only stored keys need them.
        from sentinelgw.credentials.keystore import KeyStore

        if not KeyStore.open(ctx.env, ctx.backend, prompt=ctx.prompt_secret).has(name):
            raise
        return Profile(name=name, kind="static", settings={})


def stored_keys(ctx: Context, profile: str) -> tuple[str, str] | None:
    """The key pair ``sentinel add`` stored for ``profile``, or None."""
    from sentinelgw.credentials.keystore import KeyStore  # lazy: see find_profile

    store = KeyStore.open(ctx.env, ctx.backend, prompt=ctx.prompt_secret)
    keys = store.get(profile)
    if keys is None:
        return None
    if ctx.debug:
        ctx.note(f"debug: source keys of {profile!r} from the {store.describe()} keyring")
    return keys.access_key_id, keys.secret_access_key


def profile_session(ctx: Context, name: str, region: str | None) -> boto3.Session:
    """A boto3 session for profile ``name`` as botocore builds it, SSO profiles included."""
    return provider_for(ctx, name, region).profile_session()


def own_session(ctx: Context, name: str | None, region: str | None) -> boto3.Session:
    """The session for Sentinel's own calls with profile ``name`` (None: the default chain).

    botocore would assume a role profile itself, with no SourceIdentity, and every such
    session is a gap in the audit. So a role profile is assumed by :class:`RoleProvider`,
    which stamps ``sentinel.<user>.<id>``; other kinds are used as botocore builds them.
    """
    if name is None:
        if not _default_is_role(ctx.env):
            return make_session(None, region)
        name = "default"
    provider = provider_for(ctx, name, region)
    if not isinstance(provider, RoleProvider):
        return provider.profile_session()
    issued = provider.retrieve(provider.plan(new_id()))
    return session_with(issued.credentials, provider.region)


def _default_is_role(env: Mapping[str, str]) -> bool:
    """True when the default chain would end in botocore assuming ``[default]``'s role.

    Keys in the environment come first in that chain, and then no role is assumed.
    """
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return False
    try:
        return load_profile("default").kind == "role"
    except ConfigError:
        return False


def session_with(creds: AwsCredentials, region: str | None) -> boto3.Session:
    """A boto3 session holding ``creds`` (no profile, no other source)."""

    return new_session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name=region or None,
    )


def caller_identity(session: boto3.Session, region: str | None) -> CallerIdentity:
    sts = client("sts", session=session, region=region)
    try:
        resp = sts.get_caller_identity()
    except Exception as exc:
        raise translate(exc, "sts", "GetCallerIdentity") from exc
    arn = str(resp["Arn"])
    return CallerIdentity(
        arn=arn, account=str(resp["Account"]), user_id=str(resp["UserId"]), user=user_from_arn(arn)
    )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"duration_seconds must be a number, not {value!r}") from None
