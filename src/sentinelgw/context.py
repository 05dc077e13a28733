"""The per-invocation context every core operation takes: config, clients, clock, region, log.

The CLI creates one per command from its flags; a service creates one per request. Nothing in
it depends on a terminal: the MFA prompt is a callback (``prompt_mfa``), and ``None`` there
means "no one can be asked", so a code that is needed raises :class:`CredentialError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentinelgw import awsclients
from sentinelgw.config import Config, load_config
from sentinelgw.decisionlog import DecisionLog
from sentinelgw.errors import ConfigError, CredentialError
from sentinelgw.timeutil import utcnow

if TYPE_CHECKING:
    import boto3

MfaPrompt = Callable[[str], str]
SecretPrompt = Callable[[str], str]
Notify = Callable[[str], None]
# Builds the session for Sentinel's own calls from a profile name (None: the default chain) and
# a region. The CLI passes sentinelgw.credentials.providers.own_session, which assumes a role
# profile itself with a SourceIdentity; injected so this module stays below the credentials.
OwnSession = Callable[["Context", str | None, str | None], "boto3.Session"]


@dataclass
class Context:
    """What an operation needs from its environment; lazy, so unused parts cost nothing."""

    region_flag: str | None = None
    aws_profile: str | None = None
    config_path: str | None = None
    debug: bool = False
    log_file: str | None = None
    log_stderr: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    # Asks for the MFA code of the device named by its argument; None: nobody to ask.
    prompt_mfa: MfaPrompt | None = None
    # Asks, input hidden, for the secret its argument describes (the key file's passphrase).
    prompt_secret: SecretPrompt | None = None
    # The keyring backend of stored source keys (--backend; None: SENTINEL_BACKEND, else
    # the platform's, see sentinelgw.credentials.keystore).
    backend: str | None = None
    # Shows a note or debug line to the person at the terminal; None: nobody is watching.
    notify: Notify | None = None
    # Builds the sessions of aws_session(); None: no AWS call can be made from this context.
    own_session: OwnSession | None = None
    _config: Config | None = None
    _log: DecisionLog | None = None
    _sessions: dict[tuple[str | None, str | None], Any] = field(default_factory=dict)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, self.env)
        return self._config

    def now(self) -> datetime:
        return utcnow()

    def region(self, flag: str | None = None) -> tuple[str | None, str]:
        """Region for Sentinel's own calls, and where it came from.

        ``--region``, then ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then ``defaults.region``.
        None means "let botocore use the profile's region".
        """
        if flag or self.region_flag:
            return flag or self.region_flag, "--region"
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if self.env.get(var):
                return self.env[var], f"env {var}"
        setting = self.config().defaults.get("region")
        if setting is not None:
            return str(setting.value), setting.source
        return None, "AWS config"

    def aws_session(self, region: str | None = None) -> boto3.Session:
        """The session for Sentinel's own AWS calls: ``--aws-profile``, else the default chain.

        ``AWS_PROFILE`` is never used here. A role profile (``--aws-profile``, or a
        ``[default]`` with ``role_arn``) is assumed by Sentinel itself, with a SourceIdentity.
        """
        reg = region or self.region()[0]
        key = (self.aws_profile, reg)
        if key not in self._sessions:
            if self.own_session is None:
                raise ConfigError("this context cannot make AWS calls (no own_session given)")
            self._sessions[key] = self.own_session(self, self.aws_profile, reg)
        return self._sessions[key]

    def client(self, service: str, region: str | None = None, **kw: Any) -> Any:
        reg = region or self.region()[0]
        return awsclients.client(service, session=self.aws_session(reg), region=reg, **kw)

    def decision_log(self) -> DecisionLog:
        if self._log is None:
            self._log = DecisionLog.open(self.log_file, self.log_stderr)
        return self._log

    def note(self, message: str) -> None:
        """Pass ``message`` (never a secret) to ``notify``, if anyone is watching."""
        if self.notify is not None:
            self.notify(message)

    def mfa_code(self, serial: str) -> str:
        """A 6-digit MFA code for ``serial`` from ``prompt_mfa``; CredentialError if none."""
        if self.prompt_mfa is None:
            raise CredentialError(
                f"an MFA code for {serial} is needed but there is no one to ask for it",
                hint="Run the command from an interactive terminal",
            )
        code = self.prompt_mfa(serial).strip()
        if not code.isdigit() or len(code) != 6:
            raise CredentialError("the MFA code must be 6 digits")
        return code
