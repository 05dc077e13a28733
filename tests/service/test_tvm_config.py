"""The service's own configuration: settings, the document (file, SSM, S3) and its reload, and
``sentinel tvm serve`` as a subprocess on the enforced sandbox."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tvmhelpers import call, client

from sentinelgw.errors import ConfigError, PolicyInvalid
from sentinelgw.service.document import DocumentSource, open_fetch, parse_document
from sentinelgw.service.settings import settings_from, settings_from_file

DOC = """
profiles:
  prod: {role_arn: "arn:aws:iam::123456789012:role/sentinel-prod"}
admins: [security]
policies:
  - name: prod
    match: {role_arn: "arn:aws:iam::*:role/sentinel-prod"}
    effect: require_server_session
"""


def test_document_holds_profiles_admins_and_policy():
    doc = parse_document(DOC, "svc.yaml")
    assert doc.profiles["prod"].role_arn.endswith(":role/sentinel-prod")
    assert doc.admins == ("security",)
    assert doc.policy.rules[0].role_arns == ("arn:aws:iam::*:role/sentinel-prod",)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("profiles: {prod: {role_arn: not-an-arn}}\npolicies: [{effect: allow}]\n", "svc.yaml:1"),
        (
            "profiles: {prod: {role_arn: 'arn:aws:iam::123456789012:role/p', extra: 1}}\n"
            "policies: [{effect: allow}]\n",
            "svc.yaml:1",
        ),
        ("profiles: {}\nadmins: [1]\npolicies: [{effect: allow}]\n", "svc.yaml:2"),
        ("profiles: {}\npolicies: [{effect: maybe}]\n", "svc.yaml:2"),
    ],
)
def test_invalid_documents_name_file_and_line(text, where):
    with pytest.raises(PolicyInvalid) as err:
        parse_document(text, "svc.yaml")
    assert where in str(err.value)


def test_document_without_profiles_is_valid_and_serves_nothing():
    doc = parse_document("policies: [{effect: deny}]\n", "svc.yaml")
    assert doc.profiles == {}


def test_file_document_reloads_after_the_interval_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "svc.yaml"
    path.write_text(DOC)
    now = [0.0]
    source = DocumentSource(
        str(path),
        open_fetch(str(path), lambda s: None),
        refresh=30,
        max_stale=60,
        clock=lambda: now[0],
    )
    first = source.current()
    path.write_text(DOC.replace("security", "sec-team"))
    now[0] = 10
    assert source.current() is first  # within the interval: not even read
    now[0] = 31
    assert source.current().admins == ("sec-team",)
    path.write_text("profiles: [broken")
    now[0] = 62
    assert source.current().admins == ("sec-team",)  # a bad reload keeps the last good one
    now[0] = 62 + 61
    with pytest.raises(ConfigError):
        source.current()  # ... for max_stale seconds, then refuses


def test_ssm_document_change_applies_within_the_refresh(sandbox):
    import boto3

    ssm = boto3.client(
        "ssm",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ssm.put_parameter(Name="/tvm-test/doc", Value=DOC, Type="SecureString", Overwrite=True)
    now = [0.0]
    source = DocumentSource(
        "ssm:/tvm-test/doc",
        open_fetch("ssm:/tvm-test/doc", lambda s: ssm),
        refresh=30,
        clock=lambda: now[0],
    )
    assert source.current().admins == ("security",)
    ssm.put_parameter(
        Name="/tvm-test/doc",
        Value=DOC.replace("security", "other"),
        Type="SecureString",
        Overwrite=True,
    )
    now[0] = 30
    assert source.current().admins == ("other",)


def test_s3_document(sandbox):
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="tvm-doc")
    s3.put_object(Bucket="tvm-doc", Key="service.yaml", Body=DOC.encode())
    source = DocumentSource(
        "s3://tvm-doc/service.yaml", open_fetch("s3://tvm-doc/service.yaml", lambda s: s3)
    )
    assert "prod" in source.current().profiles


def test_settings_from_environment_and_deployment_names():
    env = {
        "SENTINEL_SERVICE_ID": "arn:aws:lambda:us-east-1:1:function:f",
        "SENTINEL_SESSION_TABLE": "t",
        "SENTINEL_POLICY_PARAMETER": "/sentinel/tvm/policy",
        "AWS_REGION": "eu-west-1",
    }
    s = settings_from({}, env)
    assert (s.table, s.policy, s.region) == ("t", "ssm:/sentinel/tvm/policy", "eu-west-1")
    assert s.sts_endpoint == "https://sts.eu-west-1.amazonaws.com" and s.refresh_seconds == 30
    env["SENTINEL_TVM_TABLE"] = "mine"
    assert settings_from({}, env).table == "mine"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "SENTINEL_TVM_SERVICE_ID"),
        ({"service_id": "x", "table": "t", "policy": "p"}, "region"),
        (
            {
                "service_id": "x",
                "table": "t",
                "policy": "p",
                "region": "r",
                "sts_endpoint": "http://evil.example",
            },
            "https",
        ),
        (
            {"service_id": "x", "table": "t", "policy": "p", "region": "r", "refresh_seconds": 600},
            "refresh_seconds",
        ),
    ],
)
def test_settings_refuse_what_would_weaken_the_service(values, message):
    with pytest.raises(ConfigError) as err:
        settings_from(values, {})
    assert message in str(err.value)


def test_settings_file_rejects_unknown_keys(tmp_path):
    path = tmp_path / "svc.yaml"
    path.write_text("service_id: x\ntable: t\npolicy: p\nregion: r\nsurprise: 1\n")
    with pytest.raises(ConfigError):
        settings_from_file(str(path), {})


def test_tvm_serve_runs_the_service_and_stops_on_sigterm(on_enforced, alice, tmp_path):
    enforced = on_enforced
    config = tmp_path / "service.yaml"
    config.write_text(
        f"service_id: http://127.0.0.1:0\ntable: sentinel-sessions\n"
        f"policy: {enforced.document}\nregion: us-east-1\n"
    )
    env = {k: v for k, v in enforced.env.items()}
    env.update(
        PATH=str(Path(sys.executable).parent),
        HOME=str(tmp_path),
        AWS_SHARED_CREDENTIALS_FILE=str(enforced.root / "service" / "credentials"),
        AWS_PROFILE="sentinel-tvm",
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "sentinel"),
            "tvm",
            "serve",
            "--port",
            "0",
            "--config",
            str(config),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ", 1)[1].split()[0]
        status, body, _ = call(url, "/v1/health", method="GET")
        assert status == 200 and body["status"] == "ok"
        # The configured id is not this URL's origin, so the client must name it.
        grant = client(enforced, alice, service_id="http://127.0.0.1:0")
        grant.base = url
        assert grant.start("dev").role_arn.endswith(":role/sentinel-dev")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "Traceback" not in rest and "stopped" in rest
        assert '"event":"session_create"' in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_fresh_deployment_is_read_by_the_service():
    """What 'sentinel init tvm' writes (environment, first document) is what the service reads."""
    from sentinelgw.service.deploy.spec import INITIAL_POLICY, DeploySpec

    spec = DeploySpec(region="eu-west-1", account="111122223333", table="sessions")
    settings = settings_from({}, {**spec.environment(), "AWS_REGION": spec.region})
    assert settings.service_id == spec.function_arn and settings.table == "sessions"
    assert settings.policy == f"ssm:{spec.policy_parameter}"
    doc = parse_document(INITIAL_POLICY, settings.policy)
    assert doc.profiles == {} and doc.policy.rules[0].name == "deny-until-configured"
