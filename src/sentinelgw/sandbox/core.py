"""The :class:`Sandbox`: one loopback HTTP server running moto behind Sentinel's middleware."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentinelgw.awsclients import share_loaders_process_wide
from sentinelgw.errors import SandboxError
from sentinelgw.sandbox import provision as p
from sentinelgw.sandbox import service as s
from sentinelgw.sandbox.app import MotoCaller, SandboxApp, parse_xml_fields
from sentinelgw.sandbox.approvers import provision_approvers
from sentinelgw.sandbox.extra import missing_extra
from sentinelgw.sandbox.handler import SandboxRequestHandler
from sentinelgw.sandbox.mfa import provision_mfa
from sentinelgw.sandbox.motofix import install as install_moto_fixes
from sentinelgw.sandbox.provision import check_port, refuse_home_dirs
from sentinelgw.sandbox.recorder import CloudTrailRecorder, Identity
from sentinelgw.sandbox.sso import SSO_USER, RoleCredentials, SSOPortal
from sentinelgw.sandbox.webhook import WebhookReceiver
from sentinelgw.session_table import DEFAULT_SESSION_TABLE
from sentinelgw.sessions.schema import ensure_table

log = logging.getLogger("sentinelgw.sandbox")

ACCOUNT_ID = "123456789012"  # moto's default account
# moto accepts any key for calls that need no identity; these only bootstrap the IAM setup.
_BOOTSTRAP_KEY = "AKIASANDBOXBOOTSTRAP"
_BOOTSTRAP_SECRET = "sandbox-bootstrap-not-a-secret"
# The passphrase of the sandbox's encrypted key file (``sentinel add``): a test value in the
# open, as the sandbox's keys are; never use it for a real key file.
KEY_FILE_PASSPHRASE = "sandbox-key-file-not-a-secret"
_started_in_process = 0
_start_lock = threading.Lock()


class Sandbox:
    """A local AWS sandbox rooted at ``root``. NOT FOR PRODUCTION.

    ``start()`` serves on 127.0.0.1 (``port`` 0 picks a free one), provisions the IAM user,
    roles, files and session table; ``stop()`` shuts the server down.
    """

    def __init__(
        self,
        root: Path,
        port: int = 0,
        region: str = "us-east-1",
        table: str = DEFAULT_SESSION_TABLE,
        *,
        enforce_iam: bool = False,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.port = port
        self.region = region
        self.table = table
        self.account_id = ACCOUNT_ID
        self.aws_config_file = self.root / "aws" / "config"
        self.credentials_file = self.root / "aws" / "credentials"
        self.sso_cache_dir = self.root / "sso" / "cache"
        self.sentinel_config = self.root / "sentinel" / "config.yaml"
        self.role_arns: dict[str, str] = {}
        self.sso_role_arn = ""
        self.source_user_arn = ""
        self.table_created = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._recorder: Any = None
        self._app: Any = None
        self._sso: Any = None
        # With enforce_iam, the credential service runs on loopback and moto enforces IAM
        # (see sentinelgw.sandbox.service); moto's switch is process-wide.
        self.enforce_iam = enforce_iam
        self._service: Any = None
        self.service_document = self.root / "service" / "service.yaml"
        self.service_credentials = self.root / "service" / "credentials"
        self.webhook_file = self.root / "webhook.jsonl"
        self._webhook: Any = None

    # -- properties --------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def recorder(self) -> Any:
        """The :class:`~sentinelgw.sandbox.recorder.CloudTrailRecorder`."""
        if self._recorder is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        return self._recorder

    @property
    def service_url(self) -> str | None:
        """The loopback credential service's URL (None unless started with enforce_iam)."""
        return self._service.url if self._service is not None else None

    def env(self) -> dict[str, str]:
        """Variables that point ``aws`` and ``sentinel`` at this sandbox."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_CONFIG_FILE": str(self.aws_config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
            "SENTINEL_CONFIG": str(self.sentinel_config),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # sentinel add/remove/rotate: the encrypted-file keyring, inside the sandbox folder
            "SENTINEL_BACKEND": "file",
            "SENTINEL_FILE_DIR": str(self.root / "keyring"),
            "SENTINEL_FILE_PASSPHRASE": KEY_FILE_PASSPHRASE,
            # sentinel login: the sandbox's emulated federation sign-in endpoint
            "SENTINEL_FEDERATION_ENDPOINT": f"{self.endpoint_url}/federation",
        }
        if self.service_url:
            env["SENTINEL_REMOTE"] = self.service_url
        return env

    def lag_index(self, seconds: float) -> None:
        """Make index queries leave out records younger than ``seconds`` (0: off), as
        DynamoDB's eventually updated indexes may; for tests of that window."""
        if getattr(self, "_app", None) is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        self._app.index_lag = max(0.0, float(seconds))

    def before_put_item(self, hook: Callable[[dict[str, Any]], None] | None) -> None:
        """Call ``hook`` with each DynamoDB PutItem request before moto stores the item (None:
        stop); for tests of what happens between a check and a write."""
        if getattr(self, "_app", None) is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        self._app.before_put_item = hook

    def expire_sso_token(self) -> None:
        """Make the sandbox SSO token expired (cache file and portal), for tests."""
        if self._sso is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        self._sso.expire_token()

    def renew_sso_token(self) -> None:
        """Issue a fresh, valid SSO token (undoes :meth:`expire_sso_token`)."""
        if self._sso is None:
            raise SandboxError("the sandbox is not running", hint="Call start() first")
        self._sso.renew_token()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Sandbox:
        global _started_in_process
        message = missing_extra()
        if message:
            raise SandboxError(message)
        refuse_home_dirs(self.root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _start_lock:
            reset = _started_in_process > 0
            _started_in_process += 1
        try:
            self._serve()
            if reset:  # moto's backends are process-global: start from a clean account
                self._post("/moto-api/reset")
            self._provision()
        except SandboxError:
            self.stop()
            raise
        except Exception as exc:
            self.stop()
            raise SandboxError(
                f"the sandbox could not start: {type(exc).__name__}: {exc}",
                hint="Re-run with --debug for details",
            ) from exc
        return self

    def stop(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            service.stop()
        webhook, self._webhook = self._webhook, None
        if webhook is not None:
            webhook.stop()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------

    def _serve(self) -> None:
        busy = SandboxError(
            f"cannot listen on 127.0.0.1:{self.port}: the port is in use",
            hint="Choose another --port, or 0 for a free one",
        )
        check_port(self.port, busy)  # before importing moto: a taken port is known at once
        # moto makes a botocore session per backend and per region list, each of which would
        # parse endpoints.json (1.25 MB) and its service models again: share one loader.
        share_loaders_process_wide()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        install_moto_fixes()  # Lambda GET signatures, AWS::Lambda::Url in CloudFormation
        moto_app = DomainDispatcherApplication(create_backend_app)
        self._caller = MotoCaller(moto_app, self.account_id)
        self._recorder = CloudTrailRecorder(self.account_id, resolve=self._caller.resolve)
        app = SandboxApp(moto_app, self._recorder)
        self._app = app
        try:
            self._server = make_server(
                "127.0.0.1", self.port, app, threaded=True, request_handler=SandboxRequestHandler
            )
        except OSError as exc:
            raise SandboxError(
                f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror}",
                hint="Choose another --port, or 0 for a free one",
            ) from exc
        except SystemExit:  # werkzeug exits when the port is taken between the check and here
            raise busy from None
        self._sso = SSOPortal(
            cache_dir=self.sso_cache_dir,
            start_url=f"{self.endpoint_url}/start",
            region=self.region,
            account_id=self.account_id,
            assume=self._assume_sso_role,
        )
        app.sso = self._sso
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sentinel-sandbox", daemon=True
        )
        self._thread.start()

    def _post(self, path: str) -> None:
        # Our own loopback endpoint, always http://127.0.0.1:<port>.
        url = self.endpoint_url + path
        req = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            resp.read()

    def _client(
        self, service: str, key: str = _BOOTSTRAP_KEY, secret: str = _BOOTSTRAP_SECRET
    ) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def _provision(self) -> None:
        user, secret, self.role_arns, self.sso_role_arn = p.provision_iam(
            self._client("iam"), self.account_id, self.region
        )
        self.source_user_arn = user.arn
        self._source_key = user.access_key_id
        self._recorder.register_key(
            user.access_key_id,
            Identity(
                type="IAMUser",
                principal_id=user.user_id,
                arn=user.arn,
                account_id=self.account_id,
                user_name=user.user_name,
            ),
        )
        p.write_file(
            self.aws_config_file,
            p.aws_config_text(
                region=self.region,
                account_id=self.account_id,
                role_arns=self.role_arns,
                start_url=f"{self.endpoint_url}/start",
                # moto would check the SSO portal's own (unsigned) STS call once it enforces
                # IAM: the Identity Center profiles are in the --no-service sandbox only.
                sso=not self.enforce_iam,
            ),
        )
        p.write_file(
            self.credentials_file, p.credentials_text(user.access_key_id, secret), private=True
        )
        self._sso.write_cache()
        p.write_file(
            self.sentinel_config,
            p.sentinel_config_text(
                table=self.table,
                region=self.region,
                sso_cache_dir=self.sso_cache_dir,
                security_profile="security" if self.enforce_iam else None,  # SECURITY_PROFILE
            ),
        )
        self._create_table()
        if self.enforce_iam:
            self._provision_service(user)

    def _provision_service(self, alice: Any) -> None:
        self._add_approval_profile()

        approvers = provision_approvers(self._client)
        mfa_role, _serial = provision_mfa(
            self._client("iam"), self.root, self.account_id, alice.user_name, alice.arn
        )
        service, security = s.provision_enforced(
            self._client("iam"),
            account=self.account_id,
            region=self.region,
            table=self.table,
            role_arns=self.role_arns,
            alice_arn=alice.arn,
            approvers=approvers,
            mfa_role_arn=mfa_role,
        )
        admin = s.provision_admin(
            self._client("iam"),
            account=self.account_id,
            region=self.region,
            table=self.table,
            role_arns=self.role_arns,
        )
        for who in (service, security, admin):
            self._recorder.register_key(
                who.access_key_id,
                Identity(
                    type="IAMUser",
                    principal_id=who.user_id,
                    arn=who.arn,
                    account_id=self.account_id,
                    user_name=who.user_name,
                ),
            )
        with open(self.credentials_file, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n[{s.SECURITY_PROFILE}]\naws_access_key_id = {security.access_key_id}\n"
                f"aws_secret_access_key = {security.secret}\n"
            )
            fh.write(
                f"\n[{s.ADMIN_PROFILE}]\naws_access_key_id = {admin.access_key_id}\n"
                f"aws_secret_access_key = {admin.secret}\n"
            )

        self._webhook = WebhookReceiver(self.webhook_file).start()
        document = s.service_document_text(self.role_arns, self._webhook.url, approvers, mfa_role)
        p.write_file(self.service_document, document)
        p.write_file(self.service_credentials, s.service_credentials_text(service), private=True)
        self._client("ssm").put_parameter(Name=s.PARAMETER, Value=document, Type="String")
        self._service = s.start_service(
            root=self.root,
            endpoint_url=self.endpoint_url,
            region=self.region,
            table=self.table,
            principal=service,
            document=self.service_document,
        )
        s.enforce_iam(self.endpoint_url)

    def _add_approval_profile(self) -> None:
        """The role of ``prod-approve`` (issue 21): only the service may assume it."""

        iam = self._client("iam")
        name = f"sentinel-{s.APPROVAL_PROFILE}"
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=p.trust_policy(self.account_id),
            Description=f"Sentinel sandbox role for profile {s.APPROVAL_PROFILE}",
            MaxSessionDuration=43200,
        )["Role"]
        admin = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        )
        iam.put_role_policy(RoleName=name, PolicyName="sandbox-admin", PolicyDocument=admin)
        self.role_arns[s.APPROVAL_PROFILE] = str(role["Arn"])
        with open(self.aws_config_file, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n[profile {s.APPROVAL_PROFILE}]\nrole_arn = {role['Arn']}\n"
                f"source_profile = {p.SOURCE_PROFILE}\nregion = {self.region}\n"
            )

    def _create_table(self) -> None:
        # The same code as 'sentinel init sessions', so the sandbox table matches production.

        ensure_table(self._client("dynamodb"), self.table, plan=False, wait=True)
        self.table_created = True

    def _assume_sso_role(self) -> Any:
        """An STS session of the SSO role for alice, made inside moto (never recorded)."""

        status, body = self._caller.query(
            "sts",
            {
                "Action": "AssumeRole",
                "Version": "2011-06-15",
                "RoleArn": self.sso_role_arn,
                "RoleSessionName": SSO_USER,
                "DurationSeconds": "3600",
            },
            self._source_key,
            self.region,
        )
        if status != 200:
            raise SandboxError(f"the sandbox SSO portal could not create a session ({status})")
        f = parse_xml_fields(body)
        self._recorder.register_session(
            f["AccessKeyId"],
            Identity(
                type="AssumedRole",
                principal_id=f.get("AssumedRoleId", ""),
                arn=f.get("Arn", ""),
                account_id=self.account_id,
                issuer_role_arn=self.sso_role_arn,
                issuer_principal_id=f.get("AssumedRoleId", ""),
            ),
        )
        expiration = datetime.fromisoformat(f["Expiration"].replace("Z", "+00:00"))
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return RoleCredentials(
            access_key_id=f["AccessKeyId"],
            secret_access_key=f["SecretAccessKey"],
            session_token=f["SessionToken"],
            expiration=expiration,
        )
