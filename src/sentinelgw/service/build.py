"""Assemble a :class:`ServiceApp` from settings: clients, document source, verifier, log.

Hosts call :func:`build_app` once per process (a Lambda cold start), never per request.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from sentinelgw.service.api import ServiceApp, ServiceLog
from sentinelgw.service.core import SentinelService
from sentinelgw.service.document import DocumentSource, open_fetch
from sentinelgw.service.proof import ProofVerifier, Transport, botocore_transport
from sentinelgw.service.settings import ServiceSettings
from sentinelgw.service.table import ServiceTable
from sentinelgw.timeutil import utcnow

if TYPE_CHECKING:
    import boto3


def build_app(settings: ServiceSettings, *, session: boto3.Session | None = None,
              log_stream: IO[str] | None = None, transport: Transport | None = None) -> ServiceApp:
    """The service for ``settings``; AWS calls use ``session`` (default: the usual chain)."""
    from sentinelgw.awsclients import client, make_session

    sess = session or make_session(None, settings.region)

    def client_for(service: str, **kw: Any) -> Any:
        return client(service, session=sess, region=settings.region, connect_timeout=2.0,
                      read_timeout=5.0, max_attempts=2, **kw)

    documents = DocumentSource(settings.policy, open_fetch(settings.policy, client_for),
                               refresh=settings.refresh_seconds)
    service = SentinelService(
        service_id=settings.service_id, documents=documents,
        table=ServiceTable(client_for("dynamodb"), settings.table), sts=client_for("sts"),
        clock=utcnow, accounts=settings.accounts,
    )
    verifier = ProofVerifier(service_id=settings.service_id, sts_url=settings.sts_endpoint,
                             transport=transport or botocore_transport())
    return ServiceApp(service=service, verifier=verifier, log=ServiceLog(log_stream), clock=utcnow)
