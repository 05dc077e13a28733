"""``sentinel add``, ``remove``, ``rotate`` and ``clear``: source keys in a keyring, as in
aws-vault (the core is :mod:`sentinelgw.credentials.keystore` and
:mod:`sentinelgw.credentials.rotation`)."""

from __future__ import annotations

import re

import click

from sentinelgw.cli.common import App, common_options, pass_app
from sentinelgw.credentials import cache
from sentinelgw.credentials.keystore import KeyStore, StoredKeys
from sentinelgw.credentials.rotation import rotate_keys
from sentinelgw.errors import CredentialError, UsageError
from sentinelgw.wording import counted

# AWS documents access key ids as 16 to 128 word characters (AKIA... for an IAM user).
_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")


def _store(app: App) -> KeyStore:
    return KeyStore.open(app.env, app.backend, prompt=app.prompt_secret)


def _keys_from(app: App, from_env: bool) -> tuple[str, str]:
    if from_env:
        key_id = app.env.get("AWS_ACCESS_KEY_ID", "").strip()
        secret = app.env.get("AWS_SECRET_ACCESS_KEY", "").strip()
        if not key_id or not secret:
            raise UsageError(
                "--env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
            )
        if app.env.get("AWS_SESSION_TOKEN"):
            raise CredentialError(
                "the keys in the environment are temporary (AWS_SESSION_TOKEN is set)",
                hint="Store an IAM user's long-term access key",
            )
    else:
        import sys

        if not sys.stdin.isatty():
            raise UsageError(
                "no terminal to ask for the keys on",
                hint="Use --env with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )
        key_id = str(click.prompt("Access key ID", err=True, hide_input=True)).strip()
        secret = str(click.prompt("Secret access key", err=True, hide_input=True)).strip()
    if not _KEY_ID.match(key_id):
        raise UsageError(
            "that is not an access key id (16 to 128 capital letters and digits, AKIA...)"
        )
    if not secret:
        raise UsageError("the secret access key cannot be empty")
    return key_id, secret


@click.command("add")
@click.argument("profile", metavar="PROFILE")
@click.option(
    "--env",
    "from_env",
    is_flag=True,
    help="Take the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (no prompt).",
)
@common_options
@pass_app
def add(app: App, profile: str, from_env: bool) -> int:
    """Store PROFILE's access key in the keyring (prompted, never echoed).

    The stored key is PROFILE's source credentials from then on, before the AWS credentials
    file; remove the plaintext copy from ~/.aws/credentials yourself.

    \b
    Examples:
      sentinel add dev
      AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=... sentinel add dev --env
      SENTINEL_BACKEND=file sentinel add dev
    """
    store = _store(app)
    key_id, secret = _keys_from(app, from_env)
    replaced = store.has(profile)
    store.put(profile, StoredKeys(key_id, secret))
    verb = "Replaced the" if replaced else "Added"
    click.echo(f"{verb} key {key_id} of profile {profile} in the {store.describe()} keyring.")
    return 0


@click.command("remove")
@click.argument("profile", metavar="PROFILE")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@common_options
@pass_app
def remove(app: App, profile: str, force: bool) -> int:
    """Delete PROFILE's stored access key (and its cached sessions) from the keyring.

    The key itself stays valid in IAM: delete it there (or use sentinel rotate first).
    """
    store = _store(app)
    if not store.has(profile):
        raise CredentialError(
            f"no keys are stored for profile {profile!r} in the {store.describe()} keyring",
            hint="See the stored profiles with: sentinel list",
        )
    if not force and not click.confirm(
        f"Delete the stored key of profile {profile}?", default=False, err=True
    ):
        click.echo("nothing changed", err=True)
        return 0
    store.delete(profile)
    cleared = cache.clear(app.env, profile)

    gone = f" and {counted(cleared, 'cached session')}" if cleared else ""
    click.echo(f"Deleted the stored key of profile {profile}{gone}.")
    return 0


@click.command("rotate")
@click.argument("profile", metavar="PROFILE")
@common_options
@pass_app
def rotate(app: App, profile: str) -> int:
    """Replace PROFILE's stored access key: create a new one, switch to it, delete the old.

    Needs iam:CreateAccessKey and iam:DeleteAccessKey on the IAM user itself.
    """
    store = _store(app)
    done = rotate_keys(app, store, profile, app.region()[0])
    cache.clear(app.env, profile)
    click.echo(
        f"Rotated the key of profile {profile} (IAM user {done.user}): "
        f"{done.old_key_id} deleted, {done.new_key_id} in use."
    )
    return 0


@click.command("clear")
@click.argument("profile", metavar="[PROFILE]", required=False)
@common_options
@pass_app
def clear(app: App, profile: str | None) -> int:
    """Delete cached session credentials (of PROFILE only, if given).

    Stored access keys are not touched (see sentinel remove).
    """
    removed = cache.clear(app.env, profile)
    whose = f" of profile {profile}" if profile else ""
    click.echo(f"Cleared {counted(removed, 'cached session')}{whose}.")
    return 0
