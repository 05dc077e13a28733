"""The credential service inside the sandbox, with moto's IAM enforcement on.

Who holds what, as in a real deployment:

- ``sentinel-tvm``, the service's principal, is the only principal ``sentinel-prod`` trusts, and
  the only one with write access to the session table. moto does not match an assumed-role
  session against a role ARN in a trust policy, so in the sandbox the service runs as an IAM
  *user* of that name, with the deployment's service policy;
- ``alice`` (the default credentials) may call GetCallerIdentity and assume ``sentinel-dev``;
  she has no access to the table and is outside ``sentinel-prod``'s trust policy;
- ``security`` (profile ``security``) may read and write the table and edit the sandbox
  roles' inline policies: list, revoke and block;
- ``admin`` (profile ``admin``), the platform team, holds the deployer's permissions of
  ``sentinel permissions``: it may run ``sentinel init tvm`` and ``sentinel tvm check``.

moto checks DynamoDB and SSM permissions against the resource ``*`` only, so those statements
are granted on ``*`` here; a real deployment scopes them to the table and the parameter.

The service's own keys are written to ``service/credentials`` (profile ``sentinel-tvm``, 0600)
so that ``sentinel tvm serve`` or a Lambda-style test can run as the service against the
sandbox. The document is also stored in the SSM parameter ``/sentinel/tvm/policy``, where a
``sentinel init tvm`` deployment keeps it.

Enforcement is switched on last, by POSTing ``0`` to ``/moto-api/reset-auth``; from then on
moto checks every signature and every identity and trust policy.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinelgw.awsclients import new_session
from sentinelgw.sandbox.approvers import Approvers
from sentinelgw.service import policies
from sentinelgw.service.build import build_app
from sentinelgw.service.deploy.code_bucket import default_bucket
from sentinelgw.service.deploy.permissions import Target, policy_for
from sentinelgw.service.deploy.spec import DeploySpec
from sentinelgw.service.mfa_role import MfaRoleTrust
from sentinelgw.service.settings import settings_from
from sentinelgw.service.sweep import start_sweeper
from sentinelgw.service.wsgi import ServiceServer

SERVICE_USER = "sentinel-tvm"
SECURITY_USER = "security"
SECURITY_PROFILE = "security"
ADMIN_USER = "admin"
ADMIN_PROFILE = "admin"
MOTO_S3_ACTIONS = ("s3:HeadBucket", "s3:HeadObject", "s3:PutPublicAccessBlock")
PARAMETER = "/sentinel/tvm/policy"
PROTECTED = ("prod", "prod-approve")
SANDBOX_MIN_SESSION = 2  # seconds: leases that short let tests and the demo show a lapse
SANDBOX_SWEEP_SECONDS = 1.0
SANDBOX_MFA_ROLE_SECONDS = 1.0  # how long the service trusts its read of the MFA role
APPROVAL_PROFILE = "prod-approve"  # under require_approval, approved by security (issue 21)


@dataclass(frozen=True)
class Principal:
    user_name: str
    arn: str
    user_id: str
    access_key_id: str
    secret: str


def _user(iam: Any, name: str, policy: dict[str, Any]) -> Principal:
    user = iam.create_user(UserName=name)["User"]
    iam.put_user_policy(UserName=name, PolicyName="sandbox", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(
        user_name=name,
        arn=str(user["Arn"]),
        user_id=str(user["UserId"]),
        access_key_id=str(key["AccessKeyId"]),
        secret=str(key["SecretAccessKey"]),
    )


def table_arn(region: str, account: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}"


def provision_enforced(
    iam: Any,
    *,
    account: str,
    region: str,
    table: str,
    role_arns: dict[str, str],
    alice_arn: str,
    approvers: Approvers | None = None,
    mfa_role_arn: str | None = None,
) -> tuple[Principal, Principal]:
    """Create the service and security users and rewrite trust and user policies.

    Returns (service principal, security principal).
    """
    t_arn = table_arn(region, account, table)
    parameter = f"arn:aws:ssm:{region}:{account}:parameter{PARAMETER}"
    service = _user(
        iam,
        SERVICE_USER,
        _with_identity(
            _moto_resources(
                policies.service_role_policy(
                    sorted(role_arns.values()),
                    t_arn,
                    parameter,
                    sns_topic_arn=approvers.topic_arn if approvers else None,
                    identity_store_id=approvers.identity_store_id if approvers else None,
                    mfa_role_arn=mfa_role_arn,
                )
            )
        ),
    )
    security = _user(
        iam,
        SECURITY_USER,
        _with_identity(
            {
                "Version": policies.VERSION,
                "Statement": [
                    _allow(["dynamodb:*"], ["*"]),
                    _allow(list(policies.REVOCATION_ACTIONS), sorted(role_arns.values())),
                ],
            }
        ),
    )
    for profile, arn in role_arns.items():
        name = arn.rsplit("/", 1)[-1]
        if profile in PROTECTED:
            trust = policies.protected_role_trust_policy(service.arn)
        else:
            trust = _trust([service.arn, alice_arn])
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    dev = [arn for profile, arn in role_arns.items() if profile not in PROTECTED]
    alice_policy = {
        "Version": policies.VERSION,
        "Statement": [
            # GetSessionToken needs no permission in AWS; moto asks for one.
            _allow(["sts:GetCallerIdentity", "sts:GetSessionToken"], ["*"]),
            _allow(list(policies.ASSUME_ACTIONS), dev),
            # break-glass MFA: her session of the MFA role; her own MFA devices (to pick one)
            *([_allow(["sts:AssumeRole"], [mfa_role_arn])] if mfa_role_arn else []),
            _allow(["iam:ListMFADevices"], ["*"]),  # moto checks it against "*" only
        ],
    }
    alice = alice_arn.rsplit("/", 1)[-1]
    iam.put_user_policy(
        UserName=alice, PolicyName="sandbox", PolicyDocument=json.dumps(alice_policy)
    )
    return service, security


def provision_admin(
    iam: Any, *, account: str, region: str, table: str, role_arns: dict[str, str]
) -> Principal:
    """The platform team (profile ``admin``): what ``sentinel permissions`` lists for the
    deployer of the sandbox's deployment, so it may run ``init tvm`` and ``tvm check``.

    moto checks most calls against the resource ``*`` (IAM role calls against the role's ARN
    only when the role exists), so the sandbox grants these actions on ``*``: the admin may
    therefore change any role's policies, which ``tvm check`` reports.
    """
    spec = DeploySpec(
        region=region,
        account=account,
        table=table,
        protected_roles=tuple(arn for p, arn in sorted(role_arns.items()) if p in PROTECTED),
    )
    deployer = policy_for("deployer", Target(spec, default_bucket(spec)))
    statements = [{**st, "Resource": "*"} for st in deployer["Statement"]]
    # moto names some S3 calls by their operation, where IAM uses s3:ListBucket, s3:GetObject
    # and s3:PutBucketPublicAccessBlock.
    statements.append(_allow(list(MOTO_S3_ACTIONS), ["*"]))
    return _user(iam, ADMIN_USER, _with_identity({**deployer, "Statement": statements}))


def _allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def _moto_resources(policy: dict[str, Any]) -> dict[str, Any]:
    """moto checks DynamoDB, SSM, SNS and Identity Store calls against the resource ``*`` only,
    so a statement scoped to the table, parameter, topic or store would never match there; the
    sandbox grants those statements' actions on ``*``."""
    statements = []
    for st in policy["Statement"]:
        actions = st.get("Action", [])
        if any(str(a).startswith(("dynamodb:", "ssm:", "sns:", "identitystore:")) for a in actions):
            st = {**st, "Resource": "*"}
        statements.append(st)
    return {**policy, "Statement": statements}


def _with_identity(policy: dict[str, Any]) -> dict[str, Any]:
    statements = [
        *policy["Statement"],
        _allow(["sts:GetCallerIdentity", "sts:GetSessionToken"], ["*"]),
    ]
    return {**policy, "Statement": statements}


def _trust(principals: list[str]) -> dict[str, Any]:
    return {
        "Version": policies.VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": list(policies.ASSUME_ACTIONS),
            }
        ],
    }


def service_document_text(
    role_arns: dict[str, str],
    webhook_url: str | None = None,
    approvers: Approvers | None = None,
    mfa_role_arn: str | None = None,
) -> str:
    """The sandbox service's document: profiles, admins, and a policy keyed on role ARNs;
    ``prod-approve`` under require_approval with ``security`` (and, with ``approvers``, the
    Identity Center group) as approver, and notifications to the sandbox's webhook receiver
    (and the SNS topic). With ``mfa_role_arn``, break-glass requires MFA through that role."""
    q = json.dumps
    approval: list[str] = []
    if APPROVAL_PROFILE in role_arns:
        approval = [
            "  - name: prod-approve",
            "    match:",
            f"      role_arn: {q(role_arns[APPROVAL_PROFILE])}",
            "    effect: require_approval",
            "    max_server_duration: 2h",
            "    reason: Production changes need an approved access request",
        ]
    group = [f"group:{approvers.group}"] if approvers else []
    tail = [
        "approvals:",
        "  pending_expiry: 24h",
        *([f"  identity_store_id: {approvers.identity_store_id}"] if approvers else []),
        "  rules:",
        "    - name: prod-approvers",
        f"      match: {{profile: {APPROVAL_PROFILE}}}",
        f"      approvers: {q(['security', *group])}",
        "      approvals_needed: 1",
        "breakglass:",  # issue 22: alice may open emergency access to prod-approve
        *([f"  require_mfa: true\n  mfa_role: {q(mfa_role_arn)}"] if mfa_role_arn else []),
        "  max_duration: 4h",
        "  per_user: 3",
        "  window: 24h",
        "  cooldown: 10m",
        "  allow:",
        f"    - {{users: [alice], profiles: [{APPROVAL_PROFILE}]}}",
    ]
    if webhook_url or approvers:
        tail.append("notifications:")
    if webhook_url:
        tail.append(f"  webhook_url: {q(webhook_url)}")
    if approvers:
        tail.append(f"  sns_topic_arn: {q(approvers.topic_arn)}")
    return "\n".join(
        [
            "# Sentinel sandbox credential service document: NOT FOR PRODUCTION",
            "profiles:",
            *(f"  {name}: {{role_arn: {q(arn)}}}" for name, arn in sorted(role_arns.items())),
            "admins: [security]",
            "policies:",
            *approval,
            "  - name: prod-tracked",
            "    match:",
            f"      role_arn: {q(role_arns['prod'])}",
            "    effect: require_server_session",
            "    reason: Production needs tracked, revocable sessions",
            "  - name: dev-open",
            "    match:",
            f"      role_arn: {q(role_arns['dev'])}",
            "    effect: allow",
            "    reason: Development is open",
            *(tail if approval else []),
            "",
        ]
    )


def service_credentials_text(principal: Principal) -> str:
    return (
        f"[{SERVICE_USER}]\naws_access_key_id = {principal.access_key_id}\n"
        f"aws_secret_access_key = {principal.secret}\n"
    )


def enforce_iam(endpoint_url: str) -> None:
    """Turn moto's IAM enforcement on for every later request (process-wide)."""
    req = urllib.request.Request(  # noqa: S310 - the sandbox's own loopback endpoint
        endpoint_url + "/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        resp.read()


def start_service(
    *, root: Path, endpoint_url: str, region: str, table: str, principal: Principal, document: Path
) -> Any:
    """Run the credential service on loopback as ``principal``; returns the started server."""

    server = ServiceServer(None, host="127.0.0.1", port=0)
    settings = settings_from(
        {
            "service_id": server.url,
            "table": table,
            "policy": str(document),
            "region": region,
            "sts_endpoint": endpoint_url,
            "min_session_seconds": SANDBOX_MIN_SESSION,
        },
        {},
    )
    session = new_session(
        aws_access_key_id=principal.access_key_id,
        aws_secret_access_key=principal.secret,
        region_name=region,
    )
    log = open(root / "service.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    server.wsgi.service = build_app(
        settings, session=session, log_stream=log, endpoint_url=endpoint_url
    )

    roles = server.wsgi.service.mfa_roles
    if isinstance(roles, MfaRoleTrust):  # tests edit the role and see the change in a second
        roles.ttl = SANDBOX_MFA_ROLE_SECONDS
    # Every second: short approvals in tests and the demo end (and revoke) promptly.
    start_sweeper(server.wsgi.service.service, SANDBOX_SWEEP_SECONDS)
    server.start()
    return server
