"""Standard Webhooks signatures for outbound deliveries (https://www.standardwebhooks.com/).

The secret is `whsec_` followed by base64 of the key (the prefix is optional);
it is decoded exactly as the reference `standardwebhooks` library decodes it,
so receivers using that library verify what is signed here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["SECRET_PREFIX", "headers", "sign"]

SECRET_PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX) :]
    try:
        # As the reference library: tolerate missing padding (extra padding is ignored).
        key = base64.b64decode(secret + "==")
    except (binascii.Error, ValueError):
        raise ValueError("the signing secret is not valid base64") from None
    if not key:
        raise ValueError("the signing secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.

    Raises ValueError (never naming the secret) when the secret cannot be decoded.
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str | None, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one delivery attempt; signed only when `secret` is set."""
    result = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        result["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return result
