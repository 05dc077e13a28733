"""``sentinel completion bash|zsh|fish``: the shell completion script (click's), which also
completes AWS profile names after ``--profile`` and as ``exec``'s first word."""

from __future__ import annotations

import click

from sentinelgw.cli.main import cli

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SENTINEL_COMPLETE"


def complete_profiles(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Profile names from the AWS config that start with ``incomplete``; none if unreadable."""
    from click.shell_completion import CompletionItem

    try:
        from sentinelgw.credentials.profiles import all_profiles

        names = [p.name for p in all_profiles()]
    except Exception:
        return []  # a broken AWS config must not break the shell
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_exec_args(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """``exec``'s first word is a profile (unless --profile was given); later words are the
    command, which the shell completes itself."""
    if ctx.params.get("profile_opt") or ctx.params.get(param.name or "args"):
        return []
    return complete_profiles(ctx, param, incomplete)


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(sentinel completion bash)"     (in ~/.bashrc)
    zsh:   eval "$(sentinel completion zsh)"      (in ~/.zshrc)
    fish:  sentinel completion fish > ~/.config/fish/completions/sentinel.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "sentinel", COMPLETE_VAR).source())
