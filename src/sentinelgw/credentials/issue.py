"""Issuing credentials for a profile, as the AWS CLI would, but with Sentinel's own AssumeRole.

Role profiles are assumed by Sentinel itself so that every role session carries a
SourceIdentity (``sentinel.<user>.<id>``). Source credentials come from ``--aws-profile`` when
given (an SSO profile included: the milestone's 95-SSO-FIX), else from the profile's
``source_profile`` / ``credential_source`` through botocore. SSO and static-key profiles are
issued directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw.credentials.identity import user_from_arn
from sentinelgw.credentials.model import AwsCredentials, Identity
from sentinelgw.credentials.profiles import Profile, load_profile
from sentinelgw.errors import ConfigError, CredentialError
from sentinelgw.sourceidentity import format_source_identity

if TYPE_CHECKING:
    import boto3

    from sentinelgw.cli.common import App

DEFAULT_DURATION = 3600


@dataclass
class ProfileIssuer:
    """Issues credentials for one target profile; holds the source session between calls."""

    app: App
    profile: Profile
    region: str | None
    _source: boto3.Session | None = None
    _identity: Identity | None = None

    @classmethod
    def for_profile(cls, app: App, name: str, region: str | None) -> ProfileIssuer:
        profile = load_profile(name)
        return cls(app=app, profile=profile, region=region or profile.region)

    # -- source credentials -------------------------------------------------------------
    def source_session(self) -> boto3.Session:
        if self._source is None:
            self._source = self._make_source()
        return self._source

    def _make_source(self) -> boto3.Session:
        from sentinelgw.awsclients import make_session
        from sentinelgw.credentials.sso import sso_boto3_session

        p = self.profile
        if p.kind == "role":
            src = p.get("source_profile")
            if src:
                src_profile = load_profile(src)
                if src_profile.kind == "sso":
                    return sso_boto3_session(self.app, src_profile, self.region)
                return make_session(src, self.region)
            if p.get("credential_source"):
                # Environment / Ec2InstanceMetadata / EcsContainer: botocore's default chain
                # finds the same credentials without the profile.
                return make_session(None, self.region)
            if self.app.aws_profile:
                # A role profile with no source of its own takes --aws-profile's credentials
                # (an SSO login, typically): the milestone's server-mode SSO fix.
                return self.app.aws_session(self.region)
            raise ConfigError(
                f"profile {p.name!r} has role_arn but neither source_profile nor credential_source",
                hint="Add source_profile, or pass --aws-profile with the source credentials",
            )
        if p.kind == "sso":
            return sso_boto3_session(self.app, p, self.region)
        return make_session(p.name, self.region)

    def identity(self) -> Identity:
        """The requesting user: GetCallerIdentity of the source credentials."""
        if self._identity is None:
            from sentinelgw.awsclients import client, translate

            sts = client("sts", session=self.source_session(), region=self.region)
            try:
                resp = sts.get_caller_identity()
            except Exception as exc:
                raise translate(exc, "sts", "GetCallerIdentity") from exc
            arn = str(resp["Arn"])
            self._identity = Identity(
                arn=arn,
                account=str(resp["Account"]),
                user_id=str(resp["UserId"]),
                user=user_from_arn(arn),
            )
        return self._identity

    # -- issuing --------------------------------------------------------------------------
    def issue(
        self, ident: str, *, duration: int | None = None
    ) -> tuple[AwsCredentials, str | None]:
        """Credentials for the profile and the SourceIdentity stamped on them (None if none)."""
        p = self.profile
        if p.kind == "role":
            return self._assume_role(ident, duration)
        session = self.source_session()
        creds = session.get_credentials()
        if creds is None:
            raise CredentialError(
                f"profile {p.name!r} has no usable credentials",
                hint="Check the profile in the AWS config, or use a role profile",
            )
        frozen = creds.get_frozen_credentials()
        expiry = getattr(creds, "_expiry_time", None)
        return AwsCredentials(
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
            expiry if isinstance(expiry, datetime) else None,
        ), None

    def _assume_role(self, ident: str, duration: int | None) -> tuple[AwsCredentials, str]:
        from sentinelgw.awsclients import client, translate

        p = self.profile
        user = self.identity().user
        source_identity = format_source_identity(user, ident)
        params: dict[str, Any] = {
            "RoleArn": p.role_arn,
            "RoleSessionName": source_identity,
            "SourceIdentity": source_identity,
            "DurationSeconds": duration or _int(p.get("duration_seconds")) or DEFAULT_DURATION,
        }
        if p.get("external_id"):
            params["ExternalId"] = p.get("external_id")
        if p.get("mfa_serial"):
            params["SerialNumber"] = p.get("mfa_serial")
            params["TokenCode"] = _prompt_mfa(str(p.get("mfa_serial")))
        sts = client("sts", session=self.source_session(), region=self.region)
        try:
            resp = sts.assume_role(**params)
        except Exception as exc:
            raise translate(exc, "sts", "AssumeRole", str(p.role_arn)) from exc
        c = resp["Credentials"]
        return AwsCredentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]
        ), source_identity


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"duration_seconds must be a number, not {value!r}") from None


def _prompt_mfa(serial: str) -> str:
    import click

    try:
        with open("/dev/tty", encoding="utf-8") as tty:  # noqa: F841 - presence check only
            pass
    except OSError:
        raise CredentialError(
            f"an MFA code for {serial} is needed but there is no terminal to ask on",
            hint="Run the command from an interactive terminal",
        ) from None
    code = str(click.prompt(f"MFA code for {serial}", err=True)).strip()
    if not code.isdigit() or len(code) != 6:
        raise CredentialError("the MFA code must be 6 digits")
    return code
