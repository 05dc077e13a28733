"""Source keys in the encrypted-file keyring: ``sentinel add``, ``remove``, ``rotate`` and
``clear`` on the sandbox, and ``exec`` of profiles whose keys are only in the keyring."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
from pathlib import Path

import boto3
import pytest
from tests.conftest import run_cli, sentinel_command

from sentinelgw.errors import CredentialError

# Every process that opens the key file derives its key with Argon2id (64 MB, 15 passes: the
# library's defaults, which a test must not weaken), about a second on a busy machine, and
# each test runs up to three sentinel processes that open the key file.
pytestmark = pytest.mark.slow

POLICY = "policies:\n  - name: all\n    match: {profile: '*'}\n    effect: allow\n"
SHOW_KEYS = (
    "import os; print(os.environ['AWS_ACCESS_KEY_ID'], bool(os.environ.get('AWS_SESSION_TOKEN')))"
)
# The caller's ARN, asked of the sandbox's STS with the keys exec hands out (boto3 starts
# faster than the AWS CLI, and both honour AWS_ENDPOINT_URL).
SHOW_ARN = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


def source_keys(sandbox) -> tuple[str, str]:
    parser = configparser.RawConfigParser()
    parser.read(sandbox.credentials_file)
    section = parser["sentinel-source"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


@pytest.fixture
def kr_env(sandbox, sandbox_env, tmp_path: Path) -> dict[str, str]:
    """The sandbox with an AWS config whose ``kr`` profiles have no keys in any file."""
    config = tmp_path / "config"
    config.write_text(
        "[profile kr]\nregion = us-east-1\n\n"
        f"[profile kr-dev]\nrole_arn = {sandbox.role_arns['dev']}\nsource_profile = kr\n"
    )
    empty = tmp_path / "credentials"
    empty.write_text("")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return {
        **sandbox_env,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "SENTINEL_FILE_DIR": str(tmp_path / "keyring"),
        "TEST_POLICY": str(policy),
    }


@pytest.fixture(scope="module")
def stored_file(sandbox, tmp_path_factory) -> Path:
    """A key file in which ``sentinel add`` stored the sandbox's source keys as profiles ``kr``
    and ``other``, written once; :func:`stored` gives each test a copy."""
    key, secret = source_keys(sandbox)
    folder = tmp_path_factory.mktemp("stored") / "keyring"
    env = {**sandbox.env(), "SENTINEL_FILE_DIR": str(folder)}
    for profile in ("kr", "other"):
        add_from_env(env, profile, key, secret)
    return folder / "keys.cfg"


@pytest.fixture
def stored(kr_env, sandbox, stored_file: Path) -> tuple[str, str]:
    """``kr_env`` with the keys of profiles ``kr`` and ``other`` in its key file; (key, secret)."""
    folder = Path(kr_env["SENTINEL_FILE_DIR"])
    folder.mkdir(mode=0o700)
    (folder / "keys.cfg").write_bytes(stored_file.read_bytes())
    (folder / "keys.cfg").chmod(0o600)
    return source_keys(sandbox)


def sentinel(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` (in this process unless the command needs its own: tests/conftest.py)."""
    return run_cli(list(args), env, input=stdin)


def add_from_env(env: dict[str, str], profile: str, key: str, secret: str) -> None:
    out = sentinel(
        {**env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}, "add", profile, "--env"
    )
    assert out.returncode == 0, out.stderr
    assert f"Added key {key} of profile {profile}" in out.stdout
    assert secret not in out.stdout + out.stderr


def test_sandbox_uses_the_encrypted_file_backend(sandbox) -> None:
    env = sandbox.env()
    assert env["SENTINEL_BACKEND"] == "file"
    assert env["SENTINEL_FILE_PASSPHRASE"]
    assert Path(env["SENTINEL_FILE_DIR"]).is_relative_to(sandbox.root)


def test_add_stores_keys_encrypted_in_a_private_file(kr_env, sandbox) -> None:
    key, secret = source_keys(sandbox)
    os.umask(0o000)
    try:
        add_from_env(kr_env, "kr", key, secret)
    finally:
        os.umask(0o022)
    folder = Path(kr_env["SENTINEL_FILE_DIR"])
    key_file = folder / "keys.cfg"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text()
    assert "kr" in text and secret not in text and key not in text
    assert not list(folder.glob(".*.tmp"))


def test_one_key_derivation_per_process_for_a_key_file_sentinel_wrote(tmp_path, monkeypatch):
    """Writes and reads of one process derive the file's key once (Argon2id with the library's
    costs, about a second): the key stays in memory and every item shares the reference's
    salt. The file stays in the library's own format."""
    import argon2.low_level
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    from sentinelgw.credentials.keystore import KeyStore, StoredKeys

    costs: list[tuple[int, int]] = []
    real = argon2.low_level.hash_secret_raw

    def counted(**kw):
        costs.append((kw["time_cost"], kw["memory_cost"]))
        return real(**kw)

    monkeypatch.setattr(argon2.low_level, "hash_secret_raw", counted)
    env = {"SENTINEL_FILE_DIR": str(tmp_path / "keyring"), "SENTINEL_FILE_PASSPHRASE": "p-1"}
    store = KeyStore("file", env)
    store.put("a", StoredKeys("AKIAAAAAAAAAAAAAAAAA", "secret-a"))
    store.put("b", StoredKeys("AKIABBBBBBBBBBBBBBBB", "secret-b"))
    assert store.get("a") == StoredKeys("AKIAAAAAAAAAAAAAAAAA", "secret-a")
    assert KeyStore("file", env).get("b") == StoredKeys("AKIABBBBBBBBBBBBBBBB", "secret-b")
    assert costs == [(15, 2**16)]  # one derivation, at the library's default cost
    wrong = KeyStore("file", {**env, "SENTINEL_FILE_PASSPHRASE": "p-2"})
    with pytest.raises(CredentialError, match="wrong passphrase"):
        wrong.get("a")
    assert len(costs) == 2  # the wrong passphrase is not served from the first one's key
    monkeypatch.undo()
    library = CryptFileKeyring()
    library.file_path = str(tmp_path / "keyring" / "keys.cfg")
    library._keyring_key = "p-1"  # its own derivation, no Sentinel code involved
    assert "secret-b" in library.get_password("sentinel", "b")


def test_exec_of_a_role_profile_whose_source_keys_are_only_in_the_keyring(kr_env, sandbox):
    key, secret = source_keys(sandbox)
    before = sentinel(kr_env, "exec", "--policy", kr_env["TEST_POLICY"], "kr-dev", "--", "true")
    assert before.returncode == 2  # no keys anywhere yet
    add_from_env(kr_env, "kr", key, secret)
    out = sentinel(
        kr_env,
        "exec",
        "--policy",
        kr_env["TEST_POLICY"],
        "kr-dev",
        "--",
        "python",
        "-c",
        SHOW_ARN,
    )
    assert out.returncode == 0, out.stderr
    assert ":assumed-role/sentinel-dev/sentinel." in out.stdout


def test_static_keyring_profile_gets_a_session_unless_no_session(kr_env, stored) -> None:
    key, _ = stored
    base = ["exec", "--policy", kr_env["TEST_POLICY"]]
    session = sentinel(kr_env, *base, "kr", "--", "python", "-c", SHOW_KEYS)
    assert session.returncode == 0, session.stderr
    session_key, has_token = session.stdout.split()
    assert session_key != key and has_token == "True"  # GetSessionToken, as aws-vault
    raw = sentinel(kr_env, *base, "--no-session", "kr", "--", "python", "-c", SHOW_KEYS)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.split() == [key, "False"]


def test_profile_known_only_to_the_keyring_can_be_used(kr_env, stored) -> None:
    key, secret = stored  # a file Sentinel wrote: this process knows its key already
    add_from_env(kr_env, "only-in-keyring", key, secret)
    out = sentinel(
        kr_env,
        "exec",
        "--policy",
        kr_env["TEST_POLICY"],
        "only-in-keyring",
        "--",
        "python",
        "-c",
        SHOW_ARN,
    )
    assert out.returncode == 0, out.stderr
    assert ":user/" in out.stdout


def test_remove_deletes_the_keys_and_exec_then_fails(kr_env, stored) -> None:
    answered_no = sentinel(kr_env, "remove", "kr", stdin="n\n")
    assert answered_no.returncode == 0 and "nothing changed" in answered_no.stderr
    out = sentinel(kr_env, "remove", "kr", "--force")
    assert out.returncode == 0, out.stderr
    again = sentinel(kr_env, "remove", "kr", "--force")
    assert again.returncode == 2 and "no keys are stored for profile 'kr'" in again.stderr
    denied = sentinel(kr_env, "exec", "--policy", kr_env["TEST_POLICY"], "kr-dev", "--", "true")
    assert denied.returncode == 2
    assert "Traceback" not in denied.stderr
    # the other profile's keys are untouched
    still = sentinel(kr_env, "exec", "--policy", kr_env["TEST_POLICY"], "other", "--", "true")
    assert still.returncode == 0, still.stderr


def test_wrong_passphrase_is_one_line_and_leaves_the_file_unchanged(kr_env, stored) -> None:
    key, secret = stored
    key_file = Path(kr_env["SENTINEL_FILE_DIR"]) / "keys.cfg"
    before = key_file.read_bytes()
    bad = {**kr_env, "SENTINEL_FILE_PASSPHRASE": "wrong", "AWS_ACCESS_KEY_ID": key}
    out = sentinel({**bad, "AWS_SECRET_ACCESS_KEY": secret}, "add", "kr2", "--env")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "wrong passphrase" in out.stderr
    assert key_file.read_bytes() == before
    read = sentinel(bad, "exec", "--policy", kr_env["TEST_POLICY"], "kr", "--", "true")
    assert read.returncode == 2 and "wrong passphrase" in read.stderr


def test_no_passphrase_and_no_terminal_names_the_variable(kr_env, sandbox) -> None:
    key, secret = source_keys(sandbox)
    env = {k: v for k, v in kr_env.items() if k != "SENTINEL_FILE_PASSPHRASE"}
    out = sentinel(
        {**env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}, "add", "kr", "--env"
    )
    assert out.returncode == 2 and "SENTINEL_FILE_PASSPHRASE" in out.stderr


def test_add_without_env_or_terminal_is_refused(kr_env) -> None:
    out = sentinel(kr_env, "add", "kr", stdin="AKIAAAAAAAAAAAAAAAAA\nsecret\n")
    assert out.returncode == 2 and "--env" in out.stderr


def test_unknown_backend_suggests_the_closest(kr_env) -> None:
    out = sentinel({**kr_env, "SENTINEL_BACKEND": "fil"}, "add", "kr", "--env")
    assert out.returncode == 2 and "Did you mean 'file'?" in out.stderr
    flag = sentinel(kr_env, "remove", "--backend", "keychian", "kr", "-f")
    assert flag.returncode == 2 and "'keychain'" in flag.stderr


def test_rotate_creates_switches_and_deletes_the_old_key(kr_env, sandbox, stored) -> None:
    # `stored`: rotate within a file Sentinel wrote (this process derived its key already)
    iam = boto3.client(
        "iam",
        endpoint_url=sandbox.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAROTATETESTBOOT00",
        aws_secret_access_key="x",
    )
    iam.create_user(UserName="rotator")
    old = iam.create_access_key(UserName="rotator")["AccessKey"]
    add_from_env(kr_env, "rot", old["AccessKeyId"], old["SecretAccessKey"])
    out = sentinel(kr_env, "rotate", "rot")
    assert out.returncode == 0, out.stderr
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="rotator")["AccessKeyMetadata"]]
    assert len(keys) == 1 and keys[0] != old["AccessKeyId"]
    assert f"{old['AccessKeyId']} deleted, {keys[0]} in use" in out.stdout
    run = sentinel(
        kr_env,
        "exec",
        "--policy",
        kr_env["TEST_POLICY"],
        "--no-session",
        "rot",
        "--",
        "python",
        "-c",
        SHOW_KEYS,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == keys[0]


def test_rotate_without_stored_keys_changes_nothing(kr_env) -> None:
    out = sentinel(kr_env, "rotate", "nothing-here")
    assert out.returncode == 2 and "sentinel add nothing-here" in out.stderr


def test_clear_deletes_cached_sessions_of_one_profile_or_all(kr_env, stored) -> None:
    for profile in ("kr", "kr-dev"):
        policy = kr_env["TEST_POLICY"]
        out = sentinel(kr_env, "credentials", "--policy", policy, "--profile", profile)
        assert out.returncode == 0, out.stderr
    cache = Path(kr_env["HOME"]) / ".sentinel" / "cache"
    assert len(list(cache.glob("*.json"))) == 2
    one = sentinel(kr_env, "clear", "kr-dev")
    assert one.returncode == 0 and "Cleared 1 cached session of profile kr-dev" in one.stdout
    assert len(list(cache.glob("*.json"))) == 1
    rest = sentinel(kr_env, "clear")
    assert "Cleared 1 cached session." in rest.stdout
    assert not list(cache.glob("*.json"))


def _on_a_terminal(
    argv: list[str], env: dict[str, str], answers: dict[bytes, bytes]
) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal, answering each prompt once; (exit code, screen)."""
    import fcntl
    import pty
    import select
    import termios

    primary, secondary = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        preexec_fn=controlling_terminal,
        close_fds=True,
    )
    os.close(secondary)
    out, pending = b"", dict(answers)
    while True:
        ready, _, _ = select.select([primary], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        for prompt in [p for p in pending if p in out]:
            os.write(primary, pending.pop(prompt))
    proc.wait(timeout=60)
    os.close(primary)
    return proc.returncode, out.decode(errors="replace")


def test_add_prompts_on_the_terminal_and_never_echoes(kr_env, sandbox) -> None:
    key, secret = source_keys(sandbox)
    env = {k: v for k, v in kr_env.items() if k != "SENTINEL_FILE_PASSPHRASE"}
    code, screen = _on_a_terminal(
        [*sentinel_command(), "add", "kr"],
        env,
        {
            b"Access key ID": key.encode() + b"\n",
            b"Secret access key": secret.encode() + b"\n",
            b"New passphrase": b"typed-passphrase\n",
            b"Repeat the passphrase": b"typed-passphrase\n",
        },
    )
    assert code == 0, screen
    assert f"Added key {key} of profile kr" in screen
    assert secret not in screen and "typed-passphrase" not in screen
    used = sentinel(
        {**kr_env, "SENTINEL_FILE_PASSPHRASE": "typed-passphrase"},
        "exec",
        "--policy",
        kr_env["TEST_POLICY"],
        "--no-session",
        "kr",
        "--",
        "python",
        "-c",
        SHOW_KEYS,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == [key, "False"]


def test_key_file_another_user_could_write_is_refused(kr_env, stored) -> None:
    """A key file planted in a shared folder must not become anyone's source credentials."""
    key_file = Path(kr_env["SENTINEL_FILE_DIR"]) / "keys.cfg"
    key_file.chmod(0o666)
    out = sentinel(kr_env, "exec", "--policy", kr_env["TEST_POLICY"], "kr", "--", "true")
    assert out.returncode == 2 and "is not private to this user" in out.stderr
    key_file.chmod(0o600)
    Path(kr_env["SENTINEL_FILE_DIR"]).chmod(0o777)
    out = sentinel(kr_env, "exec", "--policy", kr_env["TEST_POLICY"], "kr", "--", "true")
    assert out.returncode == 2 and "is not private to this user" in out.stderr
