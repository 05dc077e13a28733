"""CLI and credential_process issuance: the policy gate around the (cached) provider.

The warm path (valid cached credentials) imports no boto3: the cache answers who the caller
is, the gate evaluates the policy with that user, and the cache returns the credentials. The
cold path asks STS who the caller is, evaluates, then issues and stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinelgw.credentials import cache
from sentinelgw.credentials.gate import PolicyGate
from sentinelgw.policy.source import open_policy_source
from sentinelgw.session_table import resolve_session_table
from sentinelgw.sourceidentity import new_id

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.credentials.model import Issued
    from sentinelgw.credentials.providers import CredentialProvider
    from sentinelgw.policy import Mode


def issue_for_profile(
    ctx: Context,
    profile: str,
    mode: Mode,
    policy_spec: str | None,
    *,
    use_cache: bool = True,
    debug_policy: bool = False,
    duration: int | None = None,
    session: bool = True,
) -> Issued:
    """Evaluate the policy for the caller and, if it allows, issue (or reuse cached)
    credentials; ``duration`` in seconds asks for that lifetime (a separate cache entry).
    ``session=False`` (``--no-session``) hands out a static profile's long-term keys."""
    policy = open_policy_source(policy_spec, ctx, debug_policy=debug_policy).current()
    # The table that server mode would use: only for naming the fix in a denial.
    table, table_source = resolve_session_table(None, ctx.env, ctx.config(), server_mode=True)
    region = ctx.region()[0]
    now = ctx.now()

    def make() -> CredentialProvider:
        # Lazy: a warm cache answers without the providers, which cost start-up time.
        from sentinelgw.credentials.providers import provider_for

        return provider_for(ctx, profile, region, session=session)

    provider: CredentialProvider
    if use_cache:
        key = cache.cache_key(ctx.env, profile, ctx.aws_profile, region)
        if duration is not None:
            key += f"\0duration={duration}"
        if not session:
            key += "\0no-session"
        provider = cache.CachedProvider(make, ctx.env, key, now, profile)
    else:
        provider = make()
    gate = PolicyGate(
        provider,
        policy,
        ctx.decision_log(),
        profile=profile,
        mode=mode,
        at=now,
        session_table=table,
        session_table_source=table_source,
        config_session_table=ctx.config().default("session_table"),
    )
    gate.note = ctx.note
    return gate.retrieve(gate.plan(new_id()), duration=duration)
