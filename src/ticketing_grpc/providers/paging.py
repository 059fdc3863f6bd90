"""The paging helper every list operator uses.

A plugin supplies `fetch(page_token) -> (items, next_page_token)`; `paginate`
turns it into a stream of `(item, cursor)` pairs, where the cursor
`[page_token, index]` names the page (by the token that fetched it; None for
the first page) and the item's position on it. Resuming with that cursor as
`after` fetches the same page again and continues after that item.

While the consumer handles one page, the next one is already being fetched (an
asyncio task), so a long stream costs about pages x latency rather than
pages x (latency + handling). When the consumer stops early (break, aclose,
cancellation) the prefetch task is cancelled and awaited, so no request
outlives the stream. `break` alone leaves the generator to the garbage
collector (asyncio then closes it a moment later); wrap it in
`contextlib.aclosing` to stop the prefetch at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..errors import InvalidArgument
from .base import Cursor

__all__ = ["PageToken", "paginate", "parse_cursor"]

log = logging.getLogger(__name__)

PageToken = Any
"""A JSON value identifying a page (Jira nextPageToken, an offset, a URL)."""

T = TypeVar("T")

Fetch = Callable[[PageToken | None], Awaitable[tuple[Sequence[T], PageToken | None]]]


def parse_cursor(after: Cursor | None) -> tuple[PageToken | None, int]:
    """(page token, index of the last item seen) from a cursor; (None, -1) for the start."""
    if after is None:
        return None, -1
    if isinstance(after, list | tuple) and len(after) == 2:
        token, index = after
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            return token, index
    raise InvalidArgument(
        "the resume token does not name a page position", reason="INVALID_RESUME_TOKEN"
    )


async def _fetch(fetch: Fetch[T], token: PageToken | None) -> tuple[Sequence[T], PageToken | None]:
    return await fetch(token)


async def _stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a prefetch task and wait until it is gone (its outcome is dropped)."""
    if task is None:
        return
    if not task.done():
        task.cancel()
        await asyncio.wait([task])  # raises only if *we* are cancelled meanwhile
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as unhandled


async def paginate(
    fetch: Fetch[T],
    after: Cursor | None = None,
    *,
    prefetch: bool = True,
) -> AsyncGenerator[tuple[T, Cursor], None]:
    """Yield `(item, [page_token, index])` for every item from `after` on.

    Raises InvalidArgument for a malformed `after` (before any request).
    """
    token, skip = parse_cursor(after)
    items, next_token = await fetch(token)
    pending: asyncio.Task[tuple[Sequence[T], PageToken | None]] | None = None
    try:
        while True:
            if next_token is not None and next_token == token:
                log.warning("a provider named the same page again (%r): stopping", token)
                next_token = None
            if prefetch and next_token is not None:
                pending = asyncio.create_task(_fetch(fetch, next_token))
            for index, item in enumerate(items):
                if index > skip:
                    yield item, [token, index]
            skip = -1
            if next_token is None:
                return
            if pending is not None:
                task, pending = pending, None
                following = await task
            else:
                following = await fetch(next_token)
            token, (items, next_token) = next_token, following
    finally:
        await _stop(pending)
