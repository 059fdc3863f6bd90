"""The deadline of the current RPC, as an absolute `time.monotonic()` instant.

The gRPC interceptor calls `set_from_remaining(context.time_remaining())` when
a call starts; everything below it (provider HTTP calls, their retries and
backoff sleeps) asks `remaining()` how long it may still take. A ContextVar is
used so concurrent RPCs do not see each other's deadline, and tasks started
from a handler (asyncio copies the context) inherit it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

__all__ = ["absolute", "remaining", "reset", "set_from_remaining"]

_DEADLINE: ContextVar[float | None] = ContextVar("ticketing_grpc_deadline", default=None)


def set_from_remaining(seconds: float | None) -> Token[float | None]:
    """Set the deadline `seconds` from now (None: no deadline) for this context.

    Returns the ContextVar token, for `reset()`.
    """
    value = None if seconds is None else time.monotonic() + max(seconds, 0.0)
    return _DEADLINE.set(value)


def reset(token: Token[float | None]) -> None:
    """Restore the deadline that was in force before `set_from_remaining`."""
    _DEADLINE.reset(token)


def absolute() -> float | None:
    """The deadline as a `time.monotonic()` instant, or None."""
    return _DEADLINE.get()


def remaining() -> float | None:
    """Seconds left until the deadline (never negative), or None without one."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)
