"""Long-term access keys in a keyring instead of ``~/.aws/credentials`` (aws-vault's first idea).

``sentinel add`` stores a profile's access key pair here; the providers then use it as the
profile's source credentials before the AWS credentials file. The backends are those of the
``keyring`` library, named as aws-vault names its ``--backend`` values:

============== =====================================================================
secret-service the freedesktop Secret Service (GNOME Keyring, KeePassXC) over D-Bus
kwallet        KDE Wallet
keychain       the macOS Keychain
wincred        the Windows Credential Locker
file           an encrypted file (``keyrings.cryptfile``: Argon2id key, AES-GCM), for
               headless machines, CI and the sandbox
============== =====================================================================

The backend is ``--backend``, else ``SENTINEL_BACKEND``, else the platform's own keyring (the
file when there is none). The file lives in ``SENTINEL_FILE_DIR`` (default
``~/.sentinel/keyring``, mode 0700) as ``keys.cfg`` (0600); its passphrase comes from
``SENTINEL_FILE_PASSPHRASE`` (or the library's ``KEYRING_CRYPTFILE_PASSWORD``), else from a
hidden prompt. Every write goes to a copy that replaces the file, so a failure or a crash
never leaves a half-written key file. Profile names are stored in the clear (the INI section
names of the file; an index item elsewhere), secrets never are.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinelgw.errors import ConfigError, CredentialError
from sentinelgw.fsutil import home_dir, private_dir

SERVICE = "sentinel"  # the keyring "service" every item is stored under
INDEX_ITEM = "__profiles__"  # the list of stored profiles, for backends that cannot list
BACKENDS = ("secret-service", "kwallet", "keychain", "wincred", "file")
PASSPHRASE_VARIABLES = ("SENTINEL_FILE_PASSPHRASE", "KEYRING_CRYPTFILE_PASSWORD")
FILE_NAME = "keys.cfg"

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class StoredKeys:
    """An access key pair as stored for one profile (the secret never in a repr)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def to_json(self) -> str:
        return json.dumps(
            {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key}
        )

    @classmethod
    def from_json(cls, text: str, profile: str) -> StoredKeys:
        try:
            doc = json.loads(text)
            return cls(str(doc["AccessKeyId"]), str(doc["SecretAccessKey"]))
        except (ValueError, KeyError, TypeError):
            raise CredentialError(
                f"the keyring item of profile {profile!r} is not a Sentinel key pair",
                hint=f"Store it again with: sentinel add {profile}",
            ) from None


def backend_name(flag: str | None, env: Mapping[str, str]) -> str:
    """``--backend``, else ``SENTINEL_BACKEND``, else the platform's keyring (else the file)."""
    name = flag or env.get("SENTINEL_BACKEND") or ""
    if name:
        if name not in BACKENDS:
            import difflib

            close = difflib.get_close_matches(name, BACKENDS, n=1)
            mean = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown keyring backend {name!r}.{mean}",
                hint=f"Use one of: {', '.join(BACKENDS)} (--backend or SENTINEL_BACKEND)",
            )
        return name
    if sys.platform == "darwin":
        return "keychain"
    if sys.platform == "win32":
        return "wincred"
    return "secret-service" if _available("secret-service") is None else "file"


# backend name -> (module of the keyring library, class)
_OS_BACKENDS = {
    "secret-service": ("keyring.backends.SecretService", "Keyring"),
    "kwallet": ("keyring.backends.kwallet", "DBusKeyring"),
    "keychain": ("keyring.backends.macOS", "Keyring"),
    "wincred": ("keyring.backends.Windows", "WinVaultKeyring"),
}


def _os_backend(name: str) -> Any:
    import importlib

    module, attribute = _OS_BACKENDS[name]
    backend_class: Any = getattr(importlib.import_module(module), attribute)
    return backend_class()


def _available(name: str) -> str | None:
    """None if backend ``name`` can be used here, else why not (one line)."""
    try:
        backend = _os_backend(name)
        priority = backend.priority  # the keyring library's own availability check
    except Exception as exc:
        return " ".join(str(exc).split())[:160] or type(exc).__name__
    return None if priority > 0 else "not available on this system"


def file_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("SENTINEL_FILE_DIR") or home_dir(env) / ".sentinel" / "keyring")


class KeyStore:
    """The stored key pairs of one backend; opened lazily, nothing is read until asked."""

    def __init__(
        self, backend: str, env: Mapping[str, str], *, prompt: Prompt | None = None
    ) -> None:
        self.backend = backend
        self.env = env
        self.prompt = prompt
        self._keyring: Any = None

    @classmethod
    def open(
        cls, env: Mapping[str, str], flag: str | None = None, *, prompt: Prompt | None = None
    ) -> KeyStore:
        return cls(backend_name(flag, env), env, prompt=prompt)

    # -- what the commands use ----------------------------------------------------------

    @property
    def path(self) -> Path:
        """The key file (file backend only)."""
        return file_dir(self.env) / FILE_NAME

    def describe(self) -> str:
        return f"file {self.path}" if self.backend == "file" else self.backend

    def has(self, profile: str) -> bool:
        """Whether keys are stored for ``profile``; the file backend answers without its
        passphrase (section names are in the clear)."""
        if self.backend == "file":
            return profile in self._file_profiles()
        return self.get(profile) is not None

    def get(self, profile: str) -> StoredKeys | None:
        if self.backend == "file" and profile not in self._file_profiles():
            return None
        with self._errors("read"):
            text = self._backend().get_password(SERVICE, profile)
        return None if text is None else StoredKeys.from_json(text, profile)

    def put(self, profile: str, keys: StoredKeys) -> None:
        _check_name(profile)
        with self._errors("write"):
            if self.backend == "file":
                self._file_write(lambda kr: kr.set_password(SERVICE, profile, keys.to_json()))
                return
            self._backend().set_password(SERVICE, profile, keys.to_json())
            names = set(self.profiles()) | {profile}
            self._backend().set_password(SERVICE, INDEX_ITEM, json.dumps(sorted(names)))

    def delete(self, profile: str) -> bool:
        """Remove ``profile``'s keys; False when none were stored."""
        if not self.has(profile):
            return False
        with self._errors("write"):
            if self.backend == "file":
                self._file_write(lambda kr: kr.delete_password(SERVICE, profile))
                return True
            self._backend().delete_password(SERVICE, profile)
            names = set(self.profiles()) - {profile}
            self._backend().set_password(SERVICE, INDEX_ITEM, json.dumps(sorted(names)))
        return True

    def profiles(self) -> list[str]:
        """The profiles with stored keys, by name."""
        if self.backend == "file":
            return sorted(self._file_profiles())
        with self._errors("read"):
            text = self._backend().get_password(SERVICE, INDEX_ITEM)
        try:
            names = json.loads(text) if text else []
        except ValueError:
            names = []
        return sorted(str(n) for n in names if isinstance(n, str))

    # -- backends ------------------------------------------------------------------------

    def _backend(self) -> Any:
        if self._keyring is not None:
            return self._keyring
        if self.backend == "file":
            self._keyring = _file_keyring(self.path, self._passphrase())
            return self._keyring
        why = _available(self.backend)
        if why is not None:
            raise ConfigError(
                f"keyring backend {self.backend!r} cannot be used here: {why}",
                hint="Choose another with --backend or SENTINEL_BACKEND (file works anywhere)",
            )
        self._keyring = _os_backend(self.backend)
        return self._keyring

    def _passphrase(self) -> str:
        for var in PASSPHRASE_VARIABLES:
            if self.env.get(var):
                return self.env[var]
        nobody = CredentialError(
            f"the key file {self.path} needs its passphrase and there is no one to ask",
            hint="Set SENTINEL_FILE_PASSPHRASE, or run the command from a terminal",
        )
        if self.prompt is None:
            raise nobody
        new_file = not self.path.exists()
        what = "New passphrase" if new_file else "Passphrase"
        try:
            value = self.prompt(f"{what} for the Sentinel key file {self.path}")
            # A typo in a new file's passphrase would lock its keys away: ask twice.
            again = self.prompt("Repeat the passphrase") if new_file else value
        except CredentialError:
            raise nobody from None
        if not value.strip():
            raise CredentialError("the key file passphrase cannot be empty")
        if again != value:
            raise CredentialError("the two passphrases differ; nothing was stored")
        return value

    def _file_profiles(self) -> set[str]:
        import configparser

        if not self.path.exists():
            return set()
        _check_ours(self.path)
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            raise CredentialError(
                f"cannot read the key file {self.path}: {type(exc).__name__}",
                hint="Check the file, or point SENTINEL_FILE_DIR at another folder",
            ) from None
        from keyrings.cryptfile.escape import escape, unescape

        section = escape(SERVICE)
        if not parser.has_section(section):
            return set()
        return {unescape(name) for name in parser.options(section)}

    def _file_write(self, change: Callable[[Any], object]) -> None:
        """Apply ``change`` to a 0600 copy of the key file, then rename it over the file."""
        folder = private_dir(self.path.parent)
        with _locked(folder / ".lock"):
            tmp = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    if self.path.exists():
                        fh.write(self.path.read_bytes())
                os.chmod(tmp, 0o600)
                kr = _file_keyring(tmp, self._passphrase(), verify=True)
                assert kr.keyring_key  # unlocks (or initialises) the copy before the change
                change(kr)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self._keyring = None

    @contextmanager
    def _errors(self, verb: str) -> Iterator[None]:
        """Keyring and cipher failures as one-line errors that name the backend."""
        from keyring.errors import KeyringError

        try:
            yield
        except (ConfigError, CredentialError):
            raise
        except ValueError as exc:
            if self.backend == "file":
                raise CredentialError(
                    f"cannot {verb} the key file {self.path}: wrong passphrase or a damaged file",
                    hint="Check SENTINEL_FILE_PASSPHRASE",
                ) from None
            raise CredentialError(f"cannot {verb} the {self.backend} keyring: {exc}") from None
        except (KeyringError, OSError) as exc:
            raise CredentialError(
                f"cannot {verb} the {self.describe()} keyring: {type(exc).__name__}",
                hint="Check that the keyring is unlocked, or choose another with --backend",
            ) from None


def _file_keyring(path: Path, passphrase: str, *, verify: bool = False) -> Any:
    """The library's keyring on ``path`` with our passphrase instead of its getpass prompt.

    Each item names the salt of its Argon2id key (64 MB, 15 passes: the library's defaults),
    and a derivation costs about a second. So a key is derived at most once per process and
    salt (:func:`_derived_key`, kept in memory only), and a new item is encrypted under the
    salt of the file's reference item, so a file written by Sentinel needs one derivation for
    all its items: ``add``, ``rotate`` and ``exec`` derive once. The file stays in the library's
    format (every item still carries its salt and its own random nonce). A read does not check
    the passphrase against the reference item first (AES-GCM refuses a wrong key on the item
    itself); a write (``verify``) does, so one file never mixes two keys.
    """
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    kr = CryptFileKeyring()
    kr.file_path = str(path)  # a non-data property of the library: an instance value wins
    kr._unlock = lambda: _unlock(kr, passphrase, verify=verify)
    kr._get_new_password = lambda: passphrase
    kr._create_cipher = lambda password, salt, nonce=None: _cipher(kr, password, salt, nonce)
    kr.encrypt = lambda secret, assoc=None: _encrypt(kr, secret, assoc)
    return kr


# Derived file keys of this process by (passphrase, salt, cost): in memory only, never written.
_DERIVED: dict[tuple[str, bytes, int, int, int], bytes] = {}


def _derived_key(kr: Any, password: str, salt: bytes) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    index = (password, bytes(salt), kr.time_cost, kr.memory_cost, kr.parallelism)
    if index not in _DERIVED:
        _DERIVED[index] = hash_secret_raw(
            secret=password.encode(kr.password_encoding),
            salt=salt,
            time_cost=kr.time_cost,
            memory_cost=kr.memory_cost,
            parallelism=kr.parallelism,
            hash_len=16,
            type=Type.ID,
        )
    return _DERIVED[index]


def _cipher(kr: Any, password: str, salt: bytes, nonce: bytes | None) -> Any:
    """The library's cipher (AES in the file's mode), with the key from :func:`_derived_key`."""
    from Crypto.Cipher import AES

    mode = kr._get_mode(kr.aesmode)
    if mode is None:
        raise ValueError(f"invalid AES mode: {kr.aesmode}")
    return AES.new(_derived_key(kr, password, salt), mode, nonce)


def _encrypt(kr: Any, secret: bytes, assoc: bytes | None) -> bytes:
    """The library's item format; the salt is the reference item's (new random nonce)."""
    import base64

    salt = _reference_salt(Path(kr.file_path)) or os.urandom(16)
    cipher = _cipher(kr, kr.keyring_key, salt, None)
    if assoc is not None:
        cipher.update(assoc)
    data, mac = cipher.encrypt_and_digest(secret)
    parts = {"salt": salt, "data": data, "mac": mac, "nonce": cipher.nonce}
    return json.dumps({k: base64.b64encode(v).decode() for k, v in parts.items()}).encode()


def _reference_salt(path: Path) -> bytes | None:
    """The salt of the key file's passphrase reference item, None if there is none yet."""
    import base64
    import configparser

    from keyrings.cryptfile.escape import escape

    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
        item = parser.get(escape("keyring-setting"), escape("password reference"))
        salt = base64.b64decode(json.loads(base64.b64decode(item))["salt"])
    except (OSError, ValueError, KeyError, TypeError, configparser.Error):
        return None
    return salt if isinstance(salt, bytes) and len(salt) >= 16 else None


def _unlock(kr: Any, passphrase: str, *, verify: bool) -> None:
    kr._keyring_key = passphrase
    if not verify:
        return
    if kr.get_password("keyring-setting", "password reference") != "password reference value":
        kr._keyring_key = None
        raise ValueError("wrong passphrase")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock so two writers cannot both copy, change and rename the file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # Windows: the rename is still atomic
            pass
        yield
    finally:
        os.close(fd)


def _check_ours(path: Path) -> None:
    """Refuse a key file (or its folder) that another user owns or may write: keys planted
    there would become the source credentials of the user's commands."""
    for item in (path, path.parent):
        st = item.lstat() if item == path else item.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or (item == path and not _regular(st)):
            raise CredentialError(
                f"refusing the key file {path}: {item} is not private to this user",
                hint="Keep it 0600 in a 0700 folder of yours (SENTINEL_FILE_DIR)",
            )


def _regular(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISREG(st.st_mode)


def _check_name(profile: str) -> None:
    if not profile or profile == INDEX_ITEM or any(ord(c) < 32 for c in profile):
        raise ConfigError(f"{profile!r} cannot be a profile name")
