"""``sentinel tvm``: the Sentinel credential service (token vending machine).

``sentinel tvm serve`` runs the service on waitress, for a container or host behind a TLS
load balancer. The same core runs in AWS Lambda (``sentinelgw.service.lambda_handler.handler``).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from sentinelgw.service.build import build_app
from sentinelgw.service.settings import settings_from, settings_from_file
from sentinelgw.service.sweep import start_sweeper
from sentinelgw.service.wsgi import ServiceServer


@click.group("tvm")
def tvm() -> None:
    """The Sentinel credential service: serve it, deploy it, check it."""


@tvm.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 behind a load balancer).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Service config YAML (service_id, table, policy, region, ...); "
    "SENTINEL_TVM_* variables fill what it leaves out.",
)
@click.option(
    "--threads", type=click.IntRange(1, 256), default=16, show_default=True, help="Worker threads."
)
@click.option(
    "--per-address-limit",
    type=click.IntRange(0, 10000),
    default=32,
    show_default=True,
    help="Open connections one client address may hold; 0 for none (behind a load balancer).",
)
def serve(
    host: str, port: int, config_file: str | None, threads: int, per_address_limit: int
) -> int:
    """Run the credential service until SIGINT or SIGTERM; one JSON log line per decision."""
    import os

    env = dict(os.environ)
    settings = settings_from_file(config_file, env) if config_file else settings_from({}, env)
    app = build_app(settings)

    # Expire access requests and end the sessions under ended approvals, without traffic too.
    start_sweeper(app.service, settings.sweep_seconds)
    server = ServiceServer(
        app,
        host=host,
        port=port,
        threads=threads,
        per_address=per_address_limit,
    )

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    click.echo(
        f"sentinel tvm: service {settings.service_id} listening on {server.url} "
        f"(table {settings.table}, document {settings.policy})",
        err=True,
    )
    sys.stderr.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    click.echo("sentinel tvm: stopped", err=True)
    return 0
