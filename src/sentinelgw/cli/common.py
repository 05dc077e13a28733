"""Options every command shares, and the per-invocation application context.

Common flags may be given before or after the subcommand (``sentinel --debug exec ...`` or
``sentinel exec --debug ...``); later values win.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import boto3

    from sentinelgw.config import Config
    from sentinelgw.decisionlog import DecisionLog

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """What a command needs from its environment; created once per invocation."""

    region_flag: str | None = None
    aws_profile: str | None = None
    config_path: str | None = None
    debug: bool = False
    log_file: str | None = None
    log_stderr: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    raw_args: list[str] = field(default_factory=list)
    _config: Config | None = None
    _log: DecisionLog | None = None
    _sessions: dict[tuple[str | None, str | None], Any] = field(default_factory=dict)

    def config(self) -> Config:
        if self._config is None:
            from sentinelgw.config import load_config

            self._config = load_config(self.config_path, self.env)
        return self._config

    def now(self) -> datetime:
        from sentinelgw.timeutil import utcnow

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
        """The session for Sentinel's own AWS calls (``--aws-profile``, else the default chain)."""
        from sentinelgw.awsclients import make_session

        reg = region or self.region()[0]
        key = (self.aws_profile, reg)
        if key not in self._sessions:
            profile = None
            if self.aws_profile:
                from sentinelgw.credentials.profiles import load_profile

                profile = load_profile(self.aws_profile)
            if profile is not None and profile.kind == "sso":
                from sentinelgw.credentials.sso import sso_boto3_session

                self._sessions[key] = sso_boto3_session(self, profile, reg or profile.region)
            else:
                self._sessions[key] = make_session(self.aws_profile, reg)
        return self._sessions[key]

    def client(self, service: str, region: str | None = None, **kw: Any) -> Any:
        from sentinelgw.awsclients import client

        reg = region or self.region()[0]
        return client(service, session=self.aws_session(reg), region=reg, **kw)

    def decision_log(self) -> DecisionLog:
        if self._log is None:
            from sentinelgw.decisionlog import DecisionLog

            self._log = DecisionLog.open(self.log_file, self.log_stderr)
        return self._log


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        app = ctx.find_object(App)
        if app is None:
            app = ctx.ensure_object(App)
        setattr(app, name, value)
        return value

    return callback


def common_options(fn: F) -> F:
    """Add ``--region --aws-profile --config --debug --log-file --log-stderr`` to a command."""
    opts = [
        click.option(
            "--region",
            "region_flag",
            expose_value=False,
            callback=_store("region_flag"),
            help="AWS region for Sentinel's own calls.",
            metavar="REGION",
        ),
        click.option(
            "--aws-profile",
            expose_value=False,
            callback=_store("aws_profile"),
            help="AWS profile Sentinel uses for its own calls and as SSO source.",
            metavar="NAME",
        ),
        click.option(
            "--config",
            "config_path",
            expose_value=False,
            callback=_store("config_path"),
            help="Sentinel config file (also SENTINEL_CONFIG).",
            metavar="FILE",
        ),
        click.option(
            "--debug",
            is_flag=True,
            expose_value=False,
            callback=_store("debug"),
            help="Show tracebacks and debug details (never secrets).",
        ),
        click.option(
            "--log-file",
            expose_value=False,
            callback=_store("log_file"),
            help="Append one JSON line per decision to FILE (created 0600).",
            metavar="FILE",
        ),
        click.option(
            "--log-stderr",
            is_flag=True,
            expose_value=False,
            callback=_store("log_stderr"),
            help="Write decision log lines to stderr.",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pass_app(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.find_object(App) or ctx.ensure_object(App)
        return fn(app, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str, default: str = "human") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )


debug_policy_option = click.option(
    "--debug-policy",
    is_flag=True,
    help="Allow --policy even where the config pins a central policy source (logged).",
)
