"""Helpers for the approval tests: Identity Center sessions and a second service.

- :func:`unenforced`: moto's IAM enforcement off for the calls inside (what Identity Center
  itself does on sign-in, outside the account's IAM);
- :func:`sso_session`: a boto3 session of the sandbox's ``AWSReservedSSO_*`` role whose session
  name is an Identity Center user name (as Identity Center names it);
- :func:`private_service`: a second credential service on loopback, run in this process as the
  sandbox's service user against the same enforced moto, with a document of the test's own
  (its own log file), so a test can change approval rules without touching the shared one.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"
ANYONE = {"aws_access_key_id": "AKIAANYONEANYONE0000", "aws_secret_access_key": "x"}


@contextlib.contextmanager
def unenforced(enforced: Any) -> Iterator[None]:
    def put(value: bytes) -> None:
        req = urllib.request.Request(
            enforced.endpoint + "/moto-api/reset-auth",
            data=value,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    put(b"1000000")
    try:
        yield
    finally:
        put(b"0")


def sso_session(enforced: Any, user: str) -> Any:
    import boto3

    from sentinelgw.sandbox.sso import ROLE_NAME

    role = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/us-east-1/{ROLE_NAME}"
    with unenforced(enforced):
        creds = boto3.client("sts", region_name="us-east-1", **ANYONE).assume_role(
            RoleArn=role, RoleSessionName=user
        )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


@dataclass
class Private:
    url: str
    log: Path
    document: Path
    server: Any
    app: Any

    def log_lines(self) -> list[dict[str, Any]]:
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def sandbox_document(enforced: Any) -> dict[str, Any]:
    doc = yaml.safe_load(enforced.document.read_text())
    assert isinstance(doc, dict) and doc["approvals"]["rules"], doc
    return doc


@contextlib.contextmanager
def private_service(enforced: Any, folder: Path, document: dict[str, Any]) -> Iterator[Private]:
    import boto3

    from sentinelgw.sandbox.service import SERVICE_USER
    from sentinelgw.service.build import build_app
    from sentinelgw.service.settings import settings_from
    from sentinelgw.service.wsgi import ServiceServer

    parser = configparser.ConfigParser()
    parser.read(enforced.root / "service" / "credentials")
    keys = parser[SERVICE_USER]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "service.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    server = ServiceServer(None, host="127.0.0.1", port=0)
    settings = settings_from(
        {
            "service_id": server.url,
            "table": "sentinel-sessions",
            "policy": str(path),
            "region": "us-east-1",
            "sts_endpoint": enforced.endpoint,
            "min_session_seconds": 2,
        },
        {},
    )
    session = boto3.Session(
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
        region_name="us-east-1",
    )
    log = folder / "service.log"
    with open(log, "a", encoding="utf-8", buffering=1) as stream:
        app = build_app(
            settings, session=session, log_stream=stream, endpoint_url=enforced.endpoint
        )
        server.wsgi.service = app
        server.start()
        try:
            yield Private(url=server.url, log=log, document=path, server=server, app=app)
        finally:
            server.stop()
            assert app.service.notifier is not None
            app.service.notifier.flush(10)
