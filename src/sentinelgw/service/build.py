"""Assemble a :class:`ServiceApp` from settings: clients, document source, verifier, log.

Hosts call :func:`build_app` once per process (a Lambda cold start), never per request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any

from sentinelgw.awsclients import new_session, retries_for
from sentinelgw.service.api import ServiceApp, ServiceLog
from sentinelgw.service.caller import IdentityCenterRoles
from sentinelgw.service.core import SentinelService
from sentinelgw.service.document import DocumentSource, open_fetch
from sentinelgw.service.groups import IdentityStoreGroups
from sentinelgw.service.mfa_role import MfaRoleTrust
from sentinelgw.service.notify import Notifier
from sentinelgw.service.proof import ProofVerifier, Transport, botocore_transport
from sentinelgw.service.revocation import iam_revoker
from sentinelgw.service.settings import ServiceSettings
from sentinelgw.service.table import ServiceTable
from sentinelgw.timeutil import iso, utcnow

# The service answers within a request's budget, so it retries its own AWS calls once unless
# the host sets AWS_MAX_ATTEMPTS / AWS_RETRY_MODE.
SERVICE_MAX_ATTEMPTS = 2

if TYPE_CHECKING:
    import boto3


def build_app(
    settings: ServiceSettings,
    *,
    session: boto3.Session | None = None,
    log_stream: IO[str] | None = None,
    transport: Transport | None = None,
    endpoint_url: str | None = None,
) -> ServiceApp:
    """The service for ``settings``; AWS calls use ``session`` (default: the usual chain).

    ``endpoint_url`` overrides every AWS endpoint (the sandbox); otherwise the usual
    ``AWS_ENDPOINT_URL[_<SERVICE>]`` variables apply.
    """
    from botocore.config import Config

    # The service's own principal: the whole default chain, AWS_PROFILE included. (The CLI's
    # own calls ignore AWS_PROFILE, which names the user's working profile; a service host has
    # no such profile, and AWS_PROFILE is how an operator picks the service's credentials.)
    sess = session or new_session(region_name=settings.region or None)
    config = Config(
        connect_timeout=2.0,
        read_timeout=5.0,
        max_pool_connections=32,
        **retries_for(sess, SERVICE_MAX_ATTEMPTS),
    )

    def client_for(service: str, region: str | None = None) -> Any:
        return sess.client(
            service, region_name=region or settings.region, endpoint_url=endpoint_url, config=config
        )

    documents = DocumentSource(
        settings.policy, open_fetch(settings.policy, client_for), refresh=settings.refresh_seconds
    )
    table = ServiceTable(client_for("dynamodb"), settings.table)
    log = ServiceLog(log_stream)

    def notify_failed(event: str, kind: str, why: str, about: dict[str, str]) -> None:
        log.write(
            {
                "time": iso(utcnow()),
                "event": "notify_failed",
                "code": kind,
                **about,  # the access request or break-glass id the notice was about
                "message": f"the {kind} notification of {event} was not delivered: {why}",
            }
        )

    notifier = Notifier(sns=lambda region: client_for("sns", region), on_failure=notify_failed)
    service = SentinelService(
        service_id=settings.service_id,
        documents=documents,
        table=table,
        sts=client_for("sts"),
        clock=utcnow,
        accounts=settings.accounts,
        hard_revoke=iam_revoker(client_for("iam"), table.store),
        min_session=timedelta(seconds=settings.min_session_seconds),
        notifier=notifier,
        groups=IdentityStoreGroups(lambda region: client_for("identitystore", region)),
    )
    verifier = ProofVerifier(
        service_id=settings.service_id,
        sts_url=settings.sts_endpoint,
        transport=transport or botocore_transport(),
    )
    return ServiceApp(
        service=service,
        verifier=verifier,
        log=log,
        clock=utcnow,
        identity_center=IdentityCenterRoles(client_for("iam")),
        mfa_roles=MfaRoleTrust(client_for("iam")),
    )
