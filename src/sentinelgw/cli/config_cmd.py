"""``sentinel config show``: every effective setting and where it came from."""

from __future__ import annotations

import json

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.credential_options import remote_options
from sentinelgw.config import Config
from sentinelgw.errors import SentinelError
from sentinelgw.inert import visible
from sentinelgw.service.remote import remote_client, remote_source
from sentinelgw.session_table import ENV_VAR, resolve_session_table


@click.group("config")
def config() -> None:
    """Inspect Sentinel's configuration."""


def effective_settings(
    app: App,
    session_table_flag: str | None,
    server_mode: bool,
    remote: str | None = None,
    local: bool = False,
) -> list[dict[str, object]]:
    cfg = app.config()
    rows: list[dict[str, object]] = []
    rows.append(
        {
            "key": "config_files",
            "value": cfg.files or [],
            "source": "/etc/sentinel/config.yaml, ~/.sentinel/config.yaml, sentinel.yaml "
            "(nearest), SENTINEL_CONFIG / --config",
        }
    )
    region, region_src = app.region()
    rows.append({"key": "region", "value": region, "source": region_src})
    table, table_src = resolve_session_table(
        session_table_flag, app.env, cfg, server_mode=server_mode
    )
    note = None
    if not server_mode and app.env.get(ENV_VAR):
        note = f"{ENV_VAR} is ignored outside server mode"
    rows.append(
        {
            "key": "session_table",
            "value": table,
            "source": table_src or "not set",
            "note": note
            or (
                "a matching policy rule's session_table overrides this; see "
                "'sentinel policy explain'"
            ),
        }
    )

    rows.append(_remote_row(app, remote, local))
    for key, setting in sorted(cfg.defaults.items()):
        if key in {"region", "session_table", "remote"}:
            continue
        rows.append({"key": key, "value": setting.value, "source": setting.source})
    if cfg.notes:
        rows.append({"key": "ignored", "value": list(cfg.notes), "source": "config files"})
    rows.append(_policy_source_row(cfg))
    rows.append(
        {
            "key": "aws_profile",
            "value": app.aws_profile,
            "source": "--aws-profile" if app.aws_profile else "default credential chain",
        }
    )
    for var in (
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        if app.env.get(var):
            rows.append({"key": var, "value": app.env[var], "source": f"env {var}"})
    return rows


def _remote_row(app: App, remote: str | None, local: bool) -> dict[str, object]:
    url, url_src = remote_source(app, remote, local)
    row: dict[str, object] = {"key": "remote", "value": url, "source": url_src}
    if url:
        row["note"] = (
            "exec, credentials, export, login, list and policy explain go through this "
            "credential service (--local: local mode)"
        )
    return row


def _policy_source_row(cfg: Config) -> dict[str, object]:
    if cfg.policy_source is not None:
        return {
            "key": "policy_source",
            "value": cfg.policy_source.value,
            "source": cfg.policy_source.source,
        }
    if cfg.inline_policy is not None:
        return {"key": "policy_source", "value": "inline", "source": cfg.inline_policy.filename}
    return {"key": "policy_source", "value": None, "source": "not set"}


@config.command("show")
@click.option("--session-table", metavar="TABLE", help="As passed to exec, to see precedence.")
@click.option(
    "--server/--no-server",
    "server_mode",
    default=True,
    show_default=True,
    help="Resolve as for server mode (SENTINEL_SESSION_TABLE only counts there).",
)
@format_option("human", "json")
@remote_options
@common_options
@pass_app
def show(
    app: App,
    session_table: str | None,
    server_mode: bool,
    fmt: str,
    remote: str | None,
    local: bool,
) -> int:
    """Print each effective setting with the file, flag or variable it came from.

    With a credential service, also what the service says about you: your identity as it sees
    it, its policy source, its profiles, and whether you are blocked.
    """
    rows = effective_settings(app, session_table, server_mode, remote, local)
    url = next(r["value"] for r in rows if r["key"] == "remote")
    if url:
        rows += _service_rows(app, str(url))
    if fmt == "json":
        click.echo(
            json.dumps(
                {r["key"]: {k: v for k, v in r.items() if k != "key"} for r in rows},
                indent=2,
                default=str,
            )
        )
        return 0
    width = max(len(str(r["key"])) for r in rows)
    for r in rows:
        value = r["value"]
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        line = f"{str(r['key']).ljust(width)}  {shown if shown not in (None, '') else '-'}"
        line += f"    ({r['source']})"
        click.echo(visible(line))
        if r.get("note"):
            click.echo(f"{' ' * width}  note: {visible(r['note'])}")
    return 0


def _service_rows(app: App, url: str) -> list[dict[str, object]]:
    """The service's view of the caller, or one row saying why it is missing (``config show``
    never fails because the service does)."""
    source = f"the credential service at {url}"
    try:
        answer = remote_client(app, url).decisions()
    except SentinelError as exc:
        return [{"key": "service", "value": None, "source": source, "note": str(exc)}]
    profiles = [p for p in answer.get("profiles") or [] if isinstance(p, dict)]
    return [
        {"key": "service.user", "value": answer.get("user"), "source": source},
        {"key": "service.caller_arn", "value": answer.get("caller_arn"), "source": source},
        {"key": "service.policy_source", "value": answer.get("policy_source"), "source": source},
        {
            "key": "service.profiles",
            "value": [str(p.get("profile")) for p in profiles],
            "source": source,
        },
        {"key": "service.blocked", "value": answer.get("blocked") or "no", "source": source},
    ]
