"""What a deployment of the credential service is made of.

Everything here is derived from a :class:`DeploySpec` without I/O, so the template, the stack,
``tvm check`` and ``sentinel permissions`` agree on every name and ARN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinelgw.service.policies import VERSION

DEFAULT_NAME = "sentinel-tvm"
DEFAULT_POLICY_PARAMETER = "/sentinel/tvm/policy"
HANDLER = "sentinelgw.service.lambda_handler.handler"
RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
MEMORY_MB = 512
TIMEOUT_SECONDS = 15
URL_AUTH_TYPE = "AWS_IAM"
SERVICE_POLICY_NAME = "SentinelService"
LOG_RETENTION_DAYS = 365

# The Lambda environment the service reads at cold start.
ENV_TABLE = "SENTINEL_SESSION_TABLE"
ENV_POLICY_PARAMETER = "SENTINEL_POLICY_PARAMETER"
ENV_SERVICE_ID = "SENTINEL_SERVICE_ID"

# The parameter's first value: valid, and denies every request until the operator replaces it.
INITIAL_POLICY = """\
# Sentinel credential service document. Replace the rule below with your own; until then
# every request is denied. For example:
#
# profiles:
#   prod: {role_arn: "arn:aws:iam::111122223333:role/prod"}
# admins: [security]
# policies:
#   - name: prod-tracked
#     match: {role_arn: "arn:aws:iam::*:role/prod"}
#     effect: require_server_session
policies:
  - name: deny-until-configured
    match:
      profile: "*"
    effect: deny
    reason: The Sentinel credential service has no policy yet
"""


@dataclass(frozen=True, kw_only=True)
class DeploySpec:
    """One deployment: where it goes and what it protects."""

    region: str
    account: str
    table: str
    policy_parameter: str = DEFAULT_POLICY_PARAMETER
    name: str = DEFAULT_NAME
    protected_roles: tuple[str, ...] = ()
    # The service document's notifications.sns_topic_arn and approvals.identity_store_id: the
    # execution role may publish to / read exactly these, and nothing when they are None.
    sns_topic_arn: str | None = None
    identity_store_id: str | None = None
    # The document's breakglass.mfa_role: the execution role may read exactly this role.
    mfa_role_arn: str | None = None

    @property
    def role_name(self) -> str:
        return self.name

    @property
    def function_name(self) -> str:
        return self.name

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.role_name}"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.table}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def environment(self) -> dict[str, str]:
        """The function's environment variables.

        The service id is the function's ARN: it names this deployment uniquely, so a caller
        proof made for it cannot be replayed against another deployment.
        """
        return {
            ENV_TABLE: self.table,
            ENV_POLICY_PARAMETER: self.policy_parameter,
            ENV_SERVICE_ID: self.function_arn,
        }


def lambda_trust_policy() -> dict[str, Any]:
    """The execution role's own trust policy: only the Lambda service assumes it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def role_name_of(role_arn: str) -> str:
    """``arn:aws:iam::1:role/path/name`` → ``name`` (IAM calls take the name, not the path)."""
    return role_arn.rsplit("/", 1)[-1]
