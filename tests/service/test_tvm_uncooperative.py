"""Each uncooperative move that works in local mode, tried against the credential service on the
enforced sandbox, with the installed ``sentinel``, the real AWS CLI and boto3 children."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import botocore.exceptions
import pytest
from tvmhelpers import call, client, held_client, log_lines, proof

from sentinelgw.service.client import ServiceRefused

SENTINEL = str(Path(sys.executable).parent / "sentinel")
BOTO3_CHILD = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


def sentinel(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    from tests.conftest import run_cli

    return run_cli(args, env, **kw)


def _block_alice(env: dict[str, str]) -> None:
    done = sentinel(
        [
            "server-revoke",
            "--user",
            "alice",
            "--block",
            "--reason",
            "offboarding review",
            "--aws-profile",
            "security",
        ],
        env,
    )
    assert done.returncode == 0, done.stderr


def _unblock_alice(env: dict[str, str]) -> None:
    done = sentinel(["server-unblock", "--user", "alice", "--aws-profile", "security"], env)
    assert done.returncode == 0, done.stderr
    # The block's IAM wildcard now ends at the unblock, so alice's next sessions (in the
    # tests after this one too) work at once.
    assert "IAM: the block's wildcard on" in done.stdout and done.stderr == "", done.stderr


@pytest.fixture
def blocked_alice(alice_env):
    """alice blocked by the security team with server-revoke --block; lifted afterwards."""
    _block_alice(alice_env)
    try:
        yield
    finally:
        _unblock_alice(alice_env)


@pytest.fixture
def document(enforced):
    """Rewrite the service document for one test; the original comes back afterwards."""
    original = enforced.document.read_text()

    def write(text: str) -> None:
        enforced.document.write_text(text)
        time.sleep(1.2)  # a file document is re-read at most every second

    try:
        yield write
    finally:
        write(original)


@pytest.mark.slow  # the real AWS CLI and a boto3 child, each through remote exec
def test_remote_exec_serves_the_aws_cli_and_a_boto3_child(alice_env):
    aws = sentinel(
        [
            "exec",
            "--profile",
            "prod",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ],
        alice_env,
    )
    assert aws.returncode == 0, aws.stderr
    assert ":assumed-role/sentinel-prod/sentinel.alice." in json.loads(aws.stdout)["Arn"]
    env = {k: v for k, v in alice_env.items() if k != "SENTINEL_REMOTE"}
    child = sentinel(
        [
            "exec",
            "--remote",
            alice_env["SENTINEL_REMOTE"],
            "--profile",
            "prod",
            "--",
            sys.executable,
            "-c",
            BOTO3_CHILD,
        ],
        env,
    )
    assert child.returncode == 0, child.stderr
    assert ":assumed-role/sentinel-prod/sentinel.alice." in child.stdout


def test_remote_credentials_for_credential_process(alice_env):
    done = sentinel(["credentials", "--profile", "dev"], alice_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["Version"] == 1 and doc["AccessKeyId"] and doc["Expiration"]


def _refusal(call) -> str:
    """The error an AWS call alice makes herself fails with, as the AWS CLI would print it
    (boto3 here: the same request the CLI sends, refused by the sandbox's IAM enforcement,
    without a CLI process per attack)."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        call()
    return str(err.value)


def test_direct_assume_role_of_prod_is_access_denied(enforced, alice):
    sts = alice.client("sts", endpoint_url=enforced.endpoint)
    refusal = _refusal(
        lambda: sts.assume_role(RoleArn=enforced.role_arn("prod"), RoleSessionName="direct")
    )
    assert "AccessDenied" in refusal, refusal


def test_revoked_user_cannot_start_new_session(alice_env, blocked_alice):
    for args in (
        ["exec", "--profile", "prod", "--", "true"],
        ["exec", "--profile", "dev", "--", "true"],
        ["credentials", "--profile", "dev"],
    ):
        done = sentinel(args, alice_env)
        assert done.returncode == 1, args
        assert "UserBlocked" in done.stderr and "Traceback" not in done.stderr


def test_a_block_also_refuses_a_running_session(enforced, alice, alice_env):
    grant = client(enforced, alice).start("prod")
    _block_alice(alice_env)  # also revokes every active session of alice's
    try:
        with pytest.raises(ServiceRefused) as err:
            client(enforced, alice).credentials(grant.session_id)
        assert err.value.code in ("SessionRevoked", "UserBlocked")
        with pytest.raises(ServiceRefused) as err:
            client(enforced, alice).start("dev")
        assert err.value.code == "UserBlocked" and "offboarding review" in err.value.detail
    finally:
        _unblock_alice(alice_env)
    fresh = client(enforced, alice).start("prod")
    assert fresh.user == "alice"
    # server-unblock cut the block's IAM wildcard (a minute past the block) down to the
    # unblock: a new session's credentials work at once, the revoked one's stay denied.
    held_client(enforced, fresh.credentials, "s3").list_buckets()
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        held_client(enforced, grant.credentials, "s3").list_buckets()


def test_unrevoke_by_update_item_is_access_denied(enforced, alice, security):
    grant = client(enforced, alice).start("prod")
    client(enforced, security).revoke(grant.session_id, "incident")
    ddb = alice.client("dynamodb", endpoint_url=enforced.endpoint)
    refusal = _refusal(
        lambda: ddb.update_item(
            TableName="sentinel-sessions",
            Key={"id": {"S": grant.session_id}},
            UpdateExpression="SET #s = :a",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":a": {"S": "active"}},
        )
    )
    assert "AccessDenied" in refusal, refusal
    for _ in range(3):
        with pytest.raises(ServiceRefused) as err:
            client(enforced, alice).credentials(grant.session_id)
        assert err.value.code == "SessionRevoked"
    item = security.client("dynamodb").get_item(
        TableName="sentinel-sessions", Key={"id": {"S": grant.session_id}}, ConsistentRead=True
    )
    assert item["Item"]["status"]["S"] == "revoked"


class _FakeDynamo(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"Item": {"id": {"S": "x"}, "status": {"S": "active"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_fake_dynamodb_endpoint_does_not_help(alice_env, blocked_alice):
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeDynamo)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**alice_env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{fake.server_port}"}
        done = sentinel(["exec", "--profile", "prod", "--", "true"], env)
    finally:
        fake.shutdown()
        fake.server_close()
    assert done.returncode == 1 and "UserBlocked" in done.stderr
    assert _FakeDynamo.hits == 0  # the client never reads the table; the service reads its own


def _tracked_session_of(credentials_json: str, enforced, security) -> dict | None:
    """The service's record of the session behind credential_process output, or None."""
    import boto3

    doc = json.loads(credentials_json)
    arn = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=enforced.endpoint,
        aws_access_key_id=doc["AccessKeyId"],
        aws_secret_access_key=doc["SecretAccessKey"],
        aws_session_token=doc["SessionToken"],
    ).get_caller_identity()["Arn"]
    session_id = arn.rsplit(".", 1)[-1]
    item = security.client("dynamodb", endpoint_url=enforced.endpoint).get_item(
        TableName="sentinel-sessions", Key={"id": {"S": session_id}}, ConsistentRead=True
    )
    return item.get("Item")


def test_client_policy_flag_is_ignored_by_service(alice_env, tmp_path, enforced, security):
    allow = tmp_path / "allow.yaml"
    allow.write_text("policies:\n  - name: everything\n    effect: allow\n")
    # Locally this policy hands out credentials outside any tracked session.
    local = sentinel(
        ["credentials", "--local", "--policy", str(allow), "--profile", "dev"], alice_env
    )
    assert local.returncode == 0, local.stderr
    # Through the service, prod credentials come only inside a session the service recorded
    # (its policy requires one), whatever the client's policy says.
    done = sentinel(["credentials", "--policy", str(allow), "--profile", "prod"], alice_env)
    assert done.returncode == 0, done.stderr
    record = _tracked_session_of(done.stdout, enforced, security)
    assert record is not None and record["profile"]["S"] == "prod"
    assert record["user"]["S"] == "alice" and record["status"]["S"] == "active"
    # A project sentinel.yaml pointing policy_source at the same file changes nothing either.
    (tmp_path / "sentinel.yaml").write_text(f"policy_source: {json.dumps(str(allow))}\n")
    done = sentinel(["credentials", "--profile", "prod"], alice_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _tracked_session_of(done.stdout, enforced, security) is not None
    ran = sentinel(
        ["exec", "--policy", str(allow), "--profile", "staging", "--", "true"], alice_env
    )
    assert ran.returncode == 1 and "UnknownProfile" in ran.stderr
    assert "--policy is ignored with --remote" in ran.stderr


def test_profile_alias_of_prod_role_is_refused(alice_env, enforced, document, tmp_path):
    # 1. The client's own AWS config names the prod role under [profile dev]: ignored.
    config = tmp_path / "aws-config"
    config.write_text(
        f"[default]\nregion = us-east-1\n[profile dev]\n"
        f"role_arn = {enforced.role_arn('prod')}\nsource_profile = default\n"
    )
    env = {**alice_env, "AWS_CONFIG_FILE": str(config)}
    done = sentinel(["exec", "--profile", "dev", "--", sys.executable, "-c", BOTO3_CHILD], env)
    assert done.returncode == 0, done.stderr
    assert ":assumed-role/sentinel-dev/" in done.stdout
    # 2. An alias of the prod role in the service's own map: the role_arn rule still applies.
    document(
        "\n".join(
            [
                "profiles:",
                f"  prod: {{role_arn: {enforced.role_arn('prod')}}}",
                f"  prod-alias: {{role_arn: {enforced.role_arn('prod')}}}",
                f"  dev: {{role_arn: {enforced.role_arn('dev')}}}",
                "policies:",
                "  - name: no-prod-for-alice",
                f"    match: {{role_arn: '{enforced.role_arn('prod')}', user: alice}}",
                "    effect: deny",
                "  - name: rest",
                "    effect: allow",
                "",
            ]
        )
    )
    for profile in ("prod", "prod-alias"):
        denied = sentinel(["exec", "--profile", profile, "--", "true"], alice_env)
        assert denied.returncode == 1 and "no-prod-for-alice" in denied.stderr, profile
    assert sentinel(["exec", "--profile", "dev", "--", "true"], alice_env).returncode == 0


def test_decoy_session_table_is_ignored(alice_env, security):
    env = {**alice_env, "SENTINEL_SESSION_TABLE": "decoy"}
    done = sentinel(
        [
            "exec",
            "--session-table",
            "decoy",
            "--profile",
            "prod",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['AWS_SENTINEL_SESSION_ID'])",
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    session_id = done.stdout.strip()
    item = security.client("dynamodb").get_item(
        TableName="sentinel-sessions", Key={"id": {"S": session_id}}, ConsistentRead=True
    )
    assert item["Item"]["user"]["S"] == "alice"
    tables = security.client("dynamodb").list_tables()["TableNames"]
    assert "decoy" not in tables


def test_direct_assume_role_with_a_real_source_identity_is_access_denied(enforced, alice):
    grant = client(enforced, alice).start("prod")
    sts = alice.client("sts", endpoint_url=enforced.endpoint)
    refusal = _refusal(
        lambda: sts.assume_role(
            RoleArn=enforced.role_arn("prod"),
            RoleSessionName=grant.source_identity,
            SourceIdentity=grant.source_identity,
        )
    )
    assert "AccessDenied" in refusal, refusal


CHILD = """
import os, sys, boto3
print(os.environ["AWS_SENTINEL_SESSION_ID"], flush=True)
print(boto3.Session().client("sts").get_caller_identity()["Arn"], flush=True)
sys.stdin.readline()
try:
    boto3.Session().client("sts").get_caller_identity()
    print("still served", flush=True)
except Exception as exc:
    print("refused:", exc, flush=True)
"""


def test_revocation_reaches_the_running_child(alice_env, enforced, security):
    proc = subprocess.Popen(
        [SENTINEL, "exec", "--profile", "prod", "--", sys.executable, "-c", CHILD],
        env=alice_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        session_id = proc.stdout.readline().strip()
        assert "sentinel-prod" in proc.stdout.readline()
        client(enforced, security).revoke(session_id, "stop now")
        out, err = proc.communicate("\n", timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "refused:" in out and "SessionRevoked" in out and "stop now" in out, (out, err)


# -- issue 18: who the caller is ----------------------------------------------------------


class _Relay(http.server.BaseHTTPRequestHandler):
    """A service look-alike that keeps every proof it is sent and replays it to the real one."""

    target = ""
    proofs: list = []
    replays: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).proofs.append(json.loads(raw).get("proof"))
        status, body, _ = call(type(self).target, self.path, raw)
        type(self).replays.append((status, body.get("code")))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_a_remote_flag_naming_another_host_gets_a_proof_for_that_host_only(alice_env, enforced):
    _Relay.target, _Relay.proofs, _Relay.replays = enforced.url, [], []
    relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    lookalike = f"http://127.0.0.1:{relay.server_port}"
    env = {**alice_env, "SENTINEL_REMOTE_SERVICE_ID": enforced.url}  # the real service's id
    try:
        done = sentinel(["exec", "--remote", lookalike, "--profile", "prod", "--", "true"], env)
    finally:
        relay.shutdown()
        relay.server_close()
    assert done.returncode != 0
    assert "SENTINEL_REMOTE_SERVICE_ID is for" in done.stderr
    assert [p["headers"]["X-Sentinel-Service-Id"] for p in _Relay.proofs] == [lookalike]
    assert _Relay.replays == [(401, "ProofWrongService")]  # useless to the look-alike


def test_project_file_cannot_redirect_proofs_to_another_service(alice_env, enforced, tmp_path):
    _Relay.target, _Relay.proofs, _Relay.replays = enforced.url, [], []
    relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    home = Path(alice_env["HOME"])
    (home / ".sentinel").mkdir(mode=0o700, exist_ok=True)
    (home / ".sentinel" / "config.yaml").write_text(f"defaults:\n  remote: {enforced.url}\n")
    project = tmp_path / "repo"
    project.mkdir()
    (project / "sentinel.yaml").write_text(
        "defaults:\n"
        f"  remote: http://127.0.0.1:{relay.server_port}\n"
        f"  remote_service_id: {enforced.url}\n"
    )
    env = {k: v for k, v in alice_env.items() if k != "SENTINEL_REMOTE"}
    try:
        done = sentinel(
            ["exec", "--aws-profile", "security", "--profile", "prod", "--", "true"],
            env,
            cwd=project,
        )
    finally:
        relay.shutdown()
        relay.server_close()
    assert _Relay.proofs == []  # the security user's proof never left for the project's URL
    assert done.returncode == 0, done.stderr  # it went to the user's own service
    warnings = [line for line in done.stderr.splitlines() if "ignored defaults.remote" in line]
    assert len(warnings) == 1 and str(project / "sentinel.yaml") in warnings[0]


# -- issue 18: nobody can break it for everyone -------------------------------------------


def _forged(enforced, alice) -> dict:
    """A proof of the right shape whose signature STS will not accept (no credentials needed)."""
    forged = proof(enforced, alice)
    auth = forged["headers"]["Authorization"]
    forged["headers"]["Authorization"] = auth[:-64] + os.urandom(32).hex()
    return forged


def test_a_proof_sts_rejects_is_rejected_again_never_replayed(enforced, alice):
    forged = _forged(enforced, alice)
    for _ in range(3):
        status, data, _ = call(enforced.url, "/v1/sessions", {"proof": forged, "profile": "dev"})
        assert (status, data["code"]) == (401, "ProofRejected"), data
    # An honest proof is still served: the forged ones took no place in the replay cache.
    assert client(enforced, alice).start("dev").user == "alice"


def test_a_proof_dated_in_the_future_is_refused(enforced, alice):
    from datetime import UTC, datetime, timedelta

    ahead = proof(enforced, alice)
    at = datetime.now(UTC) + timedelta(minutes=4)
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    ahead["headers"]["X-Amz-Date"] = stamp
    auth = ahead["headers"]["Authorization"]
    scope = auth.split("Credential=", 1)[1].split("/", 2)
    ahead["headers"]["Authorization"] = auth.replace(f"/{scope[1]}/", f"/{stamp[:8]}/", 1)
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": ahead, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofStale"), data


def _session_of(credentials) -> object:
    import boto3

    return boto3.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name="us-east-1",
    )


def test_a_blocked_user_cannot_come_back_as_a_role_session_for_prod(
    alice_env, enforced, alice, blocked_alice
):
    creds = alice.client("sts").assume_role(
        RoleArn=enforced.role_arn("dev"), RoleSessionName="alice2"
    )["Credentials"]
    env = {
        **alice_env,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    done = sentinel(["exec", "--profile", "prod", "--", "true"], env)
    assert done.returncode == 1, done.stderr
    assert "CallerKindNotAllowed" in done.stderr and "sentinel-dev/alice2" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_block_follows_the_user_into_a_sentinel_role_session(enforced, alice, alice_env):
    grant = client(enforced, alice).start("dev")  # a role session named sentinel.alice.<id>
    _block_alice(alice_env)
    try:
        with pytest.raises(ServiceRefused) as err:
            client(enforced, _session_of(grant.credentials)).start("dev")
    finally:
        _unblock_alice(alice_env)
    assert err.value.code == "UserBlocked" and "offboarding review" in err.value.detail


def test_a_role_a_profile_lists_under_callers_is_served(enforced, alice, document):
    prod, dev = enforced.role_arn("prod"), enforced.role_arn("dev")
    document(
        "\n".join(
            [
                "profiles:",
                f"  prod: {{role_arn: {prod}, callers: [iam-user, 'role:sentinel-d*']}}",
                f"  dev: {{role_arn: {dev}}}",
                "policies:",
                "  - name: prod-tracked",
                f"    match: {{role_arn: '{prod}'}}",
                "    effect: require_server_session",
                "  - name: rest",
                "    effect: allow",
                "",
            ]
        )
    )
    creds = alice.client("sts").assume_role(RoleArn=dev, RoleSessionName="ci-run")["Credentials"]
    import boto3

    ci = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    assert client(enforced, ci).start("prod").user == "sentinel-dev/ci-run"


class _Unenforced:
    """moto's IAM enforcement off for the calls inside (only this test talks to it then)."""

    def __init__(self, enforced) -> None:
        self.url = enforced.endpoint + "/moto-api/reset-auth"

    def _set(self, value: bytes) -> None:
        import urllib.request

        req = urllib.request.Request(
            self.url, data=value, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def __enter__(self) -> None:
        self._set(b"1000000")

    def __exit__(self, *exc: object) -> None:
        self._set(b"0")


def test_a_lookalike_identity_center_role_is_not_taken_for_its_session_name(enforced, alice):
    import boto3

    grant = client(enforced, alice).start("dev")
    name = f"AWSReservedSSO_Lookalike_{os.urandom(4).hex()}"
    anyone = {"aws_access_key_id": "AKIAANYONEANYONE0000", "aws_secret_access_key": "x"}
    with _Unenforced(enforced):
        # Someone with iam:CreateRole makes the role at path "/" and a session named security.
        iam = boto3.client("iam", region_name="us-east-1", **anyone)
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )["Role"]["Arn"]
        creds = boto3.client("sts", region_name="us-east-1", **anyone).assume_role(
            RoleArn=arn, RoleSessionName="security"
        )["Credentials"]
    lookalike = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    with pytest.raises(ServiceRefused) as err:
        client(enforced, lookalike).revoke(grant.session_id, "I am security")
    assert err.value.code == "NotAuthorized" and f"{name}/security" in err.value.detail
    # The session still serves its owner.
    assert client(enforced, alice).credentials(grant.session_id).session_id == grant.session_id


def test_every_decision_line_names_the_client_address_and_user_agent(enforced, alice):
    agent = "evil\x9b2J" + "A" * 1000  # a C1 CSI: clears the screen of whoever tails the log
    status, data, _ = call(
        enforced.url,
        "/v1/sessions",
        {"proof": proof(enforced, alice), "profile": "dev"},
        headers={"User-Agent": agent},
    )
    assert status == 201, data
    [line] = [x for x in log_lines(enforced) if x.get("request_id") == data["request_id"]]
    assert line["client_ip"] == "127.0.0.1"
    assert line["user_agent"].startswith("evil\\x9b2JAAA")
    assert len(line["user_agent"]) <= 256 and "\x9b" not in line["user_agent"]


def _revoked_policy(security, role: str) -> dict | None:
    iam = security.client("iam")
    try:
        return iam.get_role_policy(RoleName=role, PolicyName="SentinelRevokedSessions")[
            "PolicyDocument"
        ]
    except iam.exceptions.NoSuchEntityException:
        return None


def _put_revoked_policy(security, role: str, document: dict | None) -> None:
    iam = security.client("iam")
    if document is None:
        try:
            iam.delete_role_policy(RoleName=role, PolicyName="SentinelRevokedSessions")
        except iam.exceptions.NoSuchEntityException:
            pass
        return
    iam.put_role_policy(
        RoleName=role,
        PolicyName="SentinelRevokedSessions",
        PolicyDocument=json.dumps(document, separators=(",", ":")),
    )


@pytest.fixture
def prod_deny(security):
    """The prod role's SentinelRevokedSessions, put back as it was after the test."""
    original = _revoked_policy(security, "sentinel-prod")
    try:
        yield
    finally:
        _put_revoked_policy(security, "sentinel-prod", original)


def _bucket(entries: list[str]) -> dict:
    from datetime import UTC, datetime

    from sentinelgw.sessions.revocation.deny_document import bucket_sid, deny_statement

    return {
        "Version": "2012-10-17",
        "Statement": [deny_statement(bucket_sid(datetime.now(UTC)), set(entries))],
    }


def test_a_self_revoke_never_ends_every_session_of_the_role(enforced, alice, security, prod_deny):
    watcher = client(enforced, security).start("prod")  # the security team's live session
    # alice's earlier self-revokes filled the role's policy to just under IAM's quota.
    from sentinelgw.sessions.revocation.deny_document import QUOTA_CHARS, compact

    iam = security.client("iam")
    others = sum(
        len(
            compact(
                iam.get_role_policy(RoleName="sentinel-prod", PolicyName=name)["PolicyDocument"]
            )
        )
        for name in iam.list_role_policies(RoleName="sentinel-prod")["PolicyNames"]
        if name != "SentinelRevokedSessions"
    )
    filler: list[str] = []
    while (
        len(compact(_bucket([*filler, "sentinel.alice.0123456789abcdef"]))) + others < QUOTA_CHARS
    ):
        filler.append(f"sentinel.alice.{os.urandom(8).hex()}")
    _put_revoked_policy(security, "sentinel-prod", _bucket(filler))
    own = client(enforced, alice).start("prod")
    answer = client(enforced, alice).revoke(own.session_id, "done")
    assert answer["status"] == "revoked"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName="sentinel-prod", PolicyName="AWSRevokeOlderSessions")
    creds = client(enforced, security).credentials(watcher.session_id).credentials
    assert _session_of(creds).client("iam").list_roles()["Roles"]  # still works


def test_entries_of_ended_sessions_are_pruned_on_every_write(enforced, alice, security, prod_deny):
    from datetime import UTC, datetime, timedelta

    from sentinelgw.sessions.model import SessionRecord
    from sentinelgw.sourceidentity import format_source_identity, new_id

    ended = SessionRecord.new(
        id=(ident := new_id()),
        user="alice",
        profile="prod",
        role_arn=enforced.role_arn("prod"),
        started_at=datetime.now(UTC) - timedelta(hours=3),
        expires_at=datetime.now(UTC) - timedelta(hours=2),
        server_instance_id="test",
        source_identity=format_source_identity("alice", ident),
        host="test",
    )
    security.client("dynamodb").put_item(TableName="sentinel-sessions", Item=ended.to_item())
    unknown = f"sentinel.alice.{new_id()}"  # no record: kept, denying too long is safe
    _put_revoked_policy(security, "sentinel-prod", _bucket([ended.source_identity, unknown]))
    own = client(enforced, alice).start("prod")
    client(enforced, alice).revoke(own.session_id, "done")
    entries = json.dumps(_revoked_policy(security, "sentinel-prod"))
    assert own.source_identity in entries and unknown in entries
    assert ended.source_identity not in entries


def test_revokes_and_starts_past_the_limit_answer_429_with_retry_after(enforced, alice, document):
    text = enforced.document.read_text()
    document(text + "limits: {session_starts_per_minute: 3, revokes_per_minute: 2}\n")
    user = f"limited-{os.urandom(3).hex()}"  # a fresh role session: its own counts
    creds = alice.client("sts").assume_role(RoleArn=enforced.role_arn("dev"), RoleSessionName=user)[
        "Credentials"
    ]
    import boto3

    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    grants = [client(enforced, session).start("dev") for _ in range(3)]
    status, data, headers = call(
        enforced.url, "/v1/sessions", {"proof": proof(enforced, session), "profile": "dev"}
    )
    assert (status, data["code"]) == (429, "TooManyRequests"), data
    assert 1 <= int(headers["Retry-After"]) <= 60
    for grant in grants[:2]:
        client(enforced, session).revoke(grant.session_id, "done")
    with pytest.raises(ServiceRefused) as err:
        client(enforced, session).revoke(grants[2].session_id, "done")
    assert err.value.status == 429 and "try again in" in err.value.detail


def test_a_huge_duration_is_400_not_500(enforced, alice):
    body = {"proof": proof(enforced, alice), "profile": "dev", "duration_seconds": 10**100}
    status, data, _ = call(enforced.url, "/v1/sessions", body)
    assert (status, data["code"]) == (400, "BadRequest"), data


def test_a_non_ascii_user_agent_in_the_proof_is_401_not_a_false_outage(enforced, alice):
    odd = proof(enforced, alice)
    odd["headers"]["User-Agent"] = "bøtø/1.0 ☃"
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": odd, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofMalformed"), data


def test_no_aws_error_text_reaches_the_caller(on_enforced, alice):
    from datetime import UTC, datetime

    from sentinelgw.service.refusal import Refusal
    from sentinelgw.service.table import ServiceTable

    # The sandbox answers this denial with an XML body, which botocore puts in the message.
    table = ServiceTable(alice.client("dynamodb"), "x")
    with pytest.raises(Refusal) as err:
        table.read("0123456789abcdef", "alice", datetime.now(UTC))
    assert err.value.message.startswith("the session table cannot be used (dynamodb:BatchGetItem")
    assert "<" not in err.value.message and "not authorized" not in err.value.message
    assert "AccessDenied" in (err.value.detail or "")  # the service log's error field


def test_no_aws_error_body_reaches_the_terminal(alice_env):
    # alice may not read the table; the sandbox answers that JSON call with an XML body.
    done = sentinel(["server-sessions", "--table", "sentinel-sessions"], alice_env)
    assert done.returncode == 2, done.stderr
    assert "AccessDenied" in done.stderr
    assert "<" not in done.stderr and "Traceback" not in done.stderr


def _slow_clients(url: str, count: int, source: str) -> list[socket.socket]:
    """``count`` connections from ``source`` that each sent half a request and then stalled."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    held = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2)
        try:
            sock.bind((source, 0))
            sock.connect((parts.hostname, parts.port))
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: tvm\r\n")
        except OSError:
            sock.close()
            continue
        held.append(sock)
    return held


def test_slowloris_from_one_address_leaves_the_service_answering_others(enforced):
    from sentinelgw.service.wsgi import PER_ADDRESS

    held = _slow_clients(enforced.url, 150, "127.0.0.2")
    try:
        for sock in held:  # one more header line each: activity that must not buy time
            with contextlib.suppress(OSError):
                sock.sendall(b"X-Slow: 1\r\n")
        status, data, _ = call(enforced.url, "/v1/health", method="GET", timeout=2)
        assert status == 200 and data["status"] == "ok"
        readable, _, _ = select.select(held, [], [], 1.0)
        closed = [s for s in readable if not _alive(s)]
        assert len(closed) >= len(held) - PER_ADDRESS  # the rest were turned away at accept
    finally:
        for sock in held:
            sock.close()


def _alive(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_a_request_that_trickles_in_is_cut_off_at_its_header_deadline():
    from sentinelgw.service.wsgi import ServiceServer

    server = ServiceServer(None, host="127.0.0.1", port=0, header_timeout=1.0, request_timeout=2.0)
    server.start()
    try:
        [sock] = _slow_clients(server.url, 1, "127.0.0.1")
        with sock:
            for _ in range(40):  # a header line every 0.2 s for up to 8 s
                time.sleep(0.2)
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    break
                if not _alive(sock):
                    break
            else:
                pytest.fail("the server kept a trickling request open past its deadline")
    finally:
        server.stop()


def test_an_identity_center_user_is_confirmed_by_iam_and_served_as_themselves(on_enforced):
    enforced = on_enforced
    import boto3

    from sentinelgw.sandbox.sso import ROLE_NAME

    sso_role = (
        f"arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/{ROLE_NAME}"
    )
    anyone = {"aws_access_key_id": "AKIAANYONEANYONE0000", "aws_secret_access_key": "x"}
    with _Unenforced(enforced):  # what Identity Center does on sign-in (AssumeRoleWithSAML)
        creds = boto3.client("sts", region_name="us-east-1", **anyone).assume_role(
            RoleArn=sso_role, RoleSessionName="carol@example.com"
        )["Credentials"]
    carol = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    grant = client(enforced, carol).start("prod")  # a protected profile serves her
    assert grant.user == "carol@example.com"
