"""Issuing AWS credentials for a profile: profile resolution, SSO, STS AssumeRole, caching."""

from sentinelgw.credentials.model import AwsCredentials, Identity, Issued

__all__ = ["AwsCredentials", "Identity", "Issued"]
