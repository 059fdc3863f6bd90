"""Resume tokens: a plugin's cursor, bound to one request and signed.

A token is only valid for the request it was issued for (same integration,
operator, filters and order): `scope` captures those. The HMAC makes forged
or altered tokens detectable; the token is opaque to clients by contract
even though its payload is only encoded, not encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from .errors import InvalidArgument

_MAC_LEN = 16


def scope(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()


class ResumeTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, scope: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, scope + payload, hashlib.sha256).digest()[:_MAC_LEN]

    def issue(self, scope: bytes, cursor: Any) -> str:
        payload = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(self._mac(scope, payload) + payload).decode().rstrip("=")

    def open(self, token: str, scope: bytes) -> Any | None:
        """The cursor inside `token`; None for an empty token."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        mac, payload = raw[:_MAC_LEN], raw[_MAC_LEN:]
        if len(raw) <= _MAC_LEN or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise InvalidArgument(
                "resume_token is not valid for this request: it was altered, or it was "
                "issued for another query or integration"
            )
        return json.loads(payload)
