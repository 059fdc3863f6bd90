"""How the REST layer (see http.py) reports a provider's failures.

The exception for an HTTP status, the wait a Retry-After asks for, the
provider's error text, and a scrubber that takes secrets out of messages.
"""

from __future__ import annotations

import json as jsonlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus

from ..errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    NotSupported,
    PermissionDenied,
    RateLimited,
    TicketingError,
    Unauthenticated,
    Unavailable,
)

_MIN_SECRET = 4
"""Shorter values are not scrubbed (Freshdesk's basic-auth password is `X`)."""
_REDACTED = "***"


_STATUS_MAP: Mapping[int, tuple[type[TicketingError], str]] = {
    400: (InvalidArgument, "PROVIDER_INVALID_ARGUMENT"),
    401: (Unauthenticated, "PROVIDER_UNAUTHENTICATED"),
    403: (PermissionDenied, "PROVIDER_PERMISSION_DENIED"),
    404: (NotFound, "PROVIDER_NOT_FOUND"),
    408: (Unavailable, "PROVIDER_TIMEOUT"),
    409: (Conflict, "PROVIDER_CONFLICT"),
    410: (NotSupported, "PROVIDER_GONE"),
    412: (Conflict, "PROVIDER_PRECONDITION_FAILED"),
    413: (InvalidArgument, "PROVIDER_PAYLOAD_TOO_LARGE"),
    422: (InvalidArgument, "PROVIDER_UNPROCESSABLE"),
    429: (RateLimited, "PROVIDER_RATE_LIMITED"),
}


def error_for_status(
    provider_id: str, status: int, message: str, *, retry_after: float | None = None
) -> TicketingError:
    """The exception for a provider's HTTP status (see http.py's module docstring)."""
    if status in _STATUS_MAP:
        cls, reason = _STATUS_MAP[status]
    elif 500 <= status < 600:
        cls, reason = Unavailable, "PROVIDER_UNAVAILABLE"
    elif 400 <= status < 500:
        cls, reason = InvalidArgument, "PROVIDER_REJECTED"
    else:
        cls, reason = TicketingError, "PROVIDER_UNEXPECTED_STATUS"
    return cls(
        message,
        reason=reason,
        metadata={"provider": provider_id, "http_status": str(status)},
        retry_after=retry_after if cls in (RateLimited, Unavailable) else None,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def body_excerpt(status: int, body: bytes, limit: int = 300) -> str:
    """The default provider error text: the start of the body, on one line."""
    text = body[: limit * 4].decode("utf-8", "replace")
    if text.lstrip().startswith("<"):  # an HTML error page from a proxy
        text = _TAG.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _variants(secret: str) -> set[str]:
    return {
        secret,
        jsonlib.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }


def _scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    values = {v for s in secrets if len(s) >= _MIN_SECRET for v in _variants(s)}
    if not values:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    return lambda text: pattern.sub(_REDACTED, text)
