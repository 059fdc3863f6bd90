"""Secrets at rest: Fernet encryption with a key from the environment or a local key file."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "secret.key"
MIN_PASSPHRASE_LENGTH = 16

_PASSPHRASE_SALT = b"ticketing-grpc/secretbox/passphrase/v1"
_SUBKEY_SALT = b"ticketing-grpc/secretbox/subkey/v1"


class SecretKeyError(Exception):
    """The secret key is missing, malformed, unsafe, or does not match the data.

    Messages never contain key material or the data being decrypted.
    """


def _hkdf(material: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(material)


def _decode_fernet_key(key: bytes | str) -> bytes | None:
    """The 32 raw bytes of a Fernet key, or None if `key` is not one."""
    try:
        raw = base64.b64decode(key, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


class SecretBox:
    def __init__(self, key: bytes) -> None:
        raw = _decode_fernet_key(key)
        if raw is None:
            raise SecretKeyError(
                "secret key is not a valid Fernet key (urlsafe base64 of 32 bytes)"
            )
        self._raw = raw
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                "cannot decrypt: the secret key does not match or the data is corrupted"
            ) from None

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte subkey for `purpose` (e.g. HMAC of resume tokens), independent of the
        Fernet keys and of every other purpose."""
        return _hkdf(self._raw, _SUBKEY_SALT, purpose)

    @classmethod
    def load(cls, data_dir: Path, env_key: str | None) -> SecretBox:
        """The box for `env_key` (TICKETING_SECRET_KEY) if given, else for `data_dir/secret.key`,
        creating that file with a new random key on first use."""
        if env_key is not None:
            return cls(_key_from_env(env_key))
        path = data_dir / KEY_FILE_NAME
        try:
            key = _read_key_file(path)
        except FileNotFoundError:
            key = _create_key_file(path)
        try:
            return cls(key)
        except SecretKeyError:
            raise SecretKeyError(
                f"{path} does not hold a valid Fernet key; restore it from backup "
                "(deleting it makes existing encrypted data unreadable)"
            ) from None


def _key_from_env(value: str) -> bytes:
    if _decode_fernet_key(value) is not None:
        return value.encode("ascii")
    if len(value) < MIN_PASSPHRASE_LENGTH:
        raise SecretKeyError(
            f"TICKETING_SECRET_KEY must be a Fernet key or a passphrase of at least "
            f"{MIN_PASSPHRASE_LENGTH} characters"
        )
    derived = _hkdf(value.encode("utf-8"), _PASSPHRASE_SALT, b"fernet key")
    return base64.urlsafe_b64encode(derived)


def _read_key_file(path: Path) -> bytes:
    """Checks the mode on the opened descriptor, so the file checked is the file read."""
    with path.open("rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise SecretKeyError(
                f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); "
                f"restrict it with: chmod 600 {path}"
            )
        return f.read().strip()


def _create_key_file(path: Path) -> bytes:
    """Writes a new key to a private temporary file, then links it into place.

    Linking never replaces an existing file, so when two processes start together both end up
    with the key of whichever linked first, and a crash never leaves a half-written key file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
