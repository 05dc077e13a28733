"""``sentinel config show``: every effective setting and where it came from."""

from __future__ import annotations

import json

import click

from sentinelgw.cli.common import App, common_options, format_option, pass_app


@click.group("config")
def config() -> None:
    """Inspect Sentinel's configuration."""


def effective_settings(
    app: App, session_table_flag: str | None, server_mode: bool
) -> list[dict[str, object]]:
    from sentinelgw.tables import ENV_VAR, resolve_session_table

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
    for key, setting in sorted(cfg.defaults.items()):
        if key in {"region", "session_table"}:
            continue
        rows.append({"key": key, "value": setting.value, "source": setting.source})
    if cfg.notes:
        rows.append({"key": "ignored", "value": list(cfg.notes), "source": "config files"})
    if cfg.policy_source is not None:
        rows.append(
            {
                "key": "policy_source",
                "value": cfg.policy_source.value,
                "source": cfg.policy_source.source,
            }
        )
    elif cfg.inline_policy is not None:
        rows.append(
            {"key": "policy_source", "value": "inline", "source": cfg.inline_policy.filename}
        )
    else:
        rows.append({"key": "policy_source", "value": None, "source": "not set"})
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
@common_options
@pass_app
def show(app: App, session_table: str | None, server_mode: bool, fmt: str) -> int:
    """Print each effective setting with the file, flag or variable it came from."""
    from sentinelgw.inert import visible

    rows = effective_settings(app, session_table, server_mode)
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
