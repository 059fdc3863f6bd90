"""Access tokens and the admin token.

Tokens carry 32 random bytes, so a plain SHA-256 is a safe one-way hash for
them (no password stretching needed) and lets the store index by hash. The
hash is what is looked up and compared (constant-time); the token itself is
never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from .errors import Unauthenticated

log = logging.getLogger(__name__)

TOKEN_PREFIX = "tgi_"
ADMIN_PREFIX = "tga_"
ADMIN_TOKEN_FILE = "admin.token"


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def same_token(presented: str, expected_hash: bytes) -> bool:
    return hmac.compare_digest(token_hash(presented), expected_hash)


def bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The token of an `authorization: Bearer <token>` header; UNAUTHENTICATED if absent."""
    for key, value in metadata or ():
        if key.lower() != "authorization":
            continue
        text = value.decode() if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        break
    raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")


def load_admin_token(configured: str | None, data_dir: Path) -> tuple[bytes, str | None]:
    """The admin token's hash, and the token itself when it was just generated.

    A configured token wins. Otherwise one is read from, or created in, the
    data dir (mode 0600), and returned only on creation so it is printed once.
    """
    if configured:
        return token_hash(configured), None
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return token_hash(path.read_text().strip()), None
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = new_token(ADMIN_PREFIX)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token_hash(token), token
