from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ticketing_grpc.secretbox import KEY_FILE_NAME, SecretBox, SecretKeyError

PASSPHRASE = "correct horse battery staple"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    box = SecretBox.load(data_dir, None)

    key_file = data_dir / KEY_FILE_NAME
    assert _mode(data_dir) == 0o700
    assert _mode(key_file) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE_NAME]
    first_key = key_file.read_bytes()

    token = box.encrypt(b"payload")
    again = SecretBox.load(data_dir, None)
    assert key_file.read_bytes() == first_key
    assert again.decrypt(token) == b"payload"


def test_key_file_created_private_despite_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        SecretBox.load(tmp_path, None)
    finally:
        os.umask(old)
    assert _mode(tmp_path / KEY_FILE_NAME) == 0o600


def test_group_readable_key_file_refused(tmp_path: Path) -> None:
    SecretBox.load(tmp_path, None)
    key_file = tmp_path / KEY_FILE_NAME
    key_file.chmod(0o640)
    key = key_file.read_bytes().strip()

    with pytest.raises(SecretKeyError) as excinfo:
        SecretBox.load(tmp_path, None)
    message = str(excinfo.value)
    assert str(key_file) in message
    assert "chmod 600" in message
    assert key.decode() not in message


def test_world_readable_key_file_refused(tmp_path: Path) -> None:
    SecretBox.load(tmp_path, None)
    (tmp_path / KEY_FILE_NAME).chmod(0o604)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        SecretBox.load(tmp_path, None)


def test_malformed_key_file_refused_without_showing_it(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not-a-key-SENSITIVE")
    os.close(fd)
    with pytest.raises(SecretKeyError) as excinfo:
        SecretBox.load(tmp_path, None)
    assert str(key_file) in str(excinfo.value)
    assert "SENSITIVE" not in str(excinfo.value)


def test_env_fernet_key_used_as_is(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    box = SecretBox.load(tmp_path, key.decode())

    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert Fernet(key).decrypt(box.encrypt(b"payload")) == b"payload"
    assert box.decrypt(Fernet(key).encrypt(b"other")) == b"other"


def test_env_passphrase_is_deterministic(tmp_path: Path) -> None:
    token = SecretBox.load(tmp_path, PASSPHRASE).encrypt(b"payload")
    assert SecretBox.load(tmp_path / "elsewhere", PASSPHRASE).decrypt(token) == b"payload"
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_short_passphrase_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="16"):
        SecretBox.load(tmp_path, "x" * 15)


def test_wrong_passphrase_fails_to_decrypt(tmp_path: Path) -> None:
    token = SecretBox.load(tmp_path, PASSPHRASE).encrypt(b"payload")
    with pytest.raises(SecretKeyError) as excinfo:
        SecretBox.load(tmp_path, PASSPHRASE + "!").decrypt(token)
    assert "payload" not in str(excinfo.value)


def test_wrong_fernet_key_fails_to_decrypt() -> None:
    token = SecretBox(Fernet.generate_key()).encrypt(b"payload")
    with pytest.raises(SecretKeyError):
        SecretBox(Fernet.generate_key()).decrypt(token)


def test_corrupted_token_fails_to_decrypt() -> None:
    box = SecretBox(Fernet.generate_key())
    token = bytearray(box.encrypt(b"payload"))
    token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
    with pytest.raises(SecretKeyError):
        box.decrypt(bytes(token))
    with pytest.raises(SecretKeyError):
        box.decrypt(b"garbage")


def test_constructor_rejects_invalid_key() -> None:
    with pytest.raises(SecretKeyError):
        SecretBox(b"too short")


def test_repr_hides_key() -> None:
    key = Fernet.generate_key()
    assert key.decode() not in repr(SecretBox(key))


def test_derive_is_deterministic_per_key_and_purpose() -> None:
    key = Fernet.generate_key()
    box = SecretBox(key)

    subkey = box.derive(b"resume-token")
    assert len(subkey) == 32
    assert SecretBox(key).derive(b"resume-token") == subkey
    assert box.derive(b"other") != subkey
    assert SecretBox(Fernet.generate_key()).derive(b"resume-token") != subkey
    assert subkey != base64.urlsafe_b64decode(key)
