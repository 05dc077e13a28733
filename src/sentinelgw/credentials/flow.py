"""CLI and credential_process issuance: policy first, then credentials.

The warm path (valid cached credentials) imports no boto3: it evaluates the policy with the
cached user and returns. The cold path asks STS who the caller is, evaluates, then issues.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinelgw.credentials import cache
from sentinelgw.credentials.model import Issued
from sentinelgw.gate import decide, make_request
from sentinelgw.sourceidentity import format_source_identity, new_id

if TYPE_CHECKING:
    from sentinelgw.cli.common import App
    from sentinelgw.policy import Mode


def issue_for_profile(
    app: App, profile: str, mode: Mode, policy_spec: str | None, *, use_cache: bool = True
) -> Issued:
    from sentinelgw.policy.source import open_policy_source
    from sentinelgw.tables import resolve_session_table

    policy = open_policy_source(policy_spec, app).current()
    # The table that server mode would use: only for naming the fix in a denial.
    table, table_source = resolve_session_table(None, app.env, app.config(), server_mode=True)
    region = app.region()[0]
    now = app.now()
    log = app.decision_log()
    key = cache.cache_key(app.env, profile, app.aws_profile, region)
    if use_cache:
        entry = cache.load(app.env, key, now)
        if entry is not None:
            request_id = str(entry.get("request_id") or new_id())
            decide(
                policy,
                make_request(profile, str(entry["user"]), mode, now, table, table_source),
                log,
                request_id=request_id,
                source_identity=entry.get("source_identity"),
            )
            return Issued(
                credentials=cache.credentials_from(entry),
                profile=profile,
                user=str(entry["user"]),
                identity_arn=str(entry.get("identity_arn")),
                role_arn=entry.get("role_arn"),
                source_identity=entry.get("source_identity"),
                request_id=request_id,
                region=entry.get("region"),
            )

    from sentinelgw.credentials.issue import ProfileIssuer

    issuer = ProfileIssuer.for_profile(app, profile, region)
    identity = issuer.identity()
    request_id = new_id()
    intended = (
        format_source_identity(identity.user, request_id) if issuer.profile.kind == "role" else None
    )
    decide(
        policy,
        make_request(profile, identity.user, mode, now, table, table_source),
        log,
        request_id=request_id,
        source_identity=intended,
    )
    creds, source_identity = issuer.issue(request_id)
    issued = Issued(
        credentials=creds,
        profile=profile,
        user=identity.user,
        identity_arn=identity.arn,
        role_arn=issuer.profile.role_arn,
        source_identity=source_identity,
        request_id=request_id,
        region=issuer.region,
    )
    if use_cache:
        cache.store(
            app.env,
            key,
            creds,
            {
                "user": identity.user,
                "identity_arn": identity.arn,
                "role_arn": issued.role_arn,
                "source_identity": source_identity,
                "request_id": request_id,
                "region": issued.region,
                "profile": profile,
            },
        )
    return issued
