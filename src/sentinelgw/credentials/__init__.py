"""Issuing AWS credentials for a profile: profile resolution, SSO, STS AssumeRole, caching."""

from sentinelgw.credentials.model import AwsCredentials, CallerIdentity, Issued

__all__ = ["AwsCredentials", "CallerIdentity", "Issued"]
