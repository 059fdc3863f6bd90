"""paginate() over a real paged HTTP API on 127.0.0.1 (through ProviderHTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ticketing_grpc import deadline
from ticketing_grpc.errors import InvalidArgument, NotFound
from ticketing_grpc.providers.http import BearerAuth, ProviderHTTP
from ticketing_grpc.providers.paging import PageToken, paginate


class PagedAPI:
    """`GET /items?page=N`: `per_page` items per page, `pages` pages, `delay` s per answer."""

    def __init__(self, pages: int = 5, per_page: int = 3, delay: float = 0.0) -> None:
        self.pages = pages
        self.per_page = per_page
        self.delay = delay
        self.requested: list[int] = []
        self.finished: list[int] = []
        self.missing: set[int] = set()

    async def items(self, request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        self.requested.append(page)
        await asyncio.sleep(self.delay)
        self.finished.append(page)
        if page in self.missing:
            return web.json_response({"message": "gone"}, status=404)
        items = [f"p{page}-{i}" for i in range(self.per_page)]
        following = page + 1 if page < self.pages else None
        return web.json_response({"items": items, "next": following})


@pytest.fixture
async def api() -> AsyncIterator[tuple[PagedAPI, ProviderHTTP]]:
    fake = PagedAPI()
    app = web.Application()
    app.router.add_get("/items", fake.items)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = ProviderHTTP(
        "ticketing_test", str(server.make_url("")), BearerAuth("tok-1234"), allow_private=True
    )
    try:
        yield fake, http
    finally:
        await http.close()
        await server.close()


class Fetcher:
    """The fetch function a plugin writes: the page token is the page number."""

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http
        self.cancelled: list[PageToken] = []
        self.deadlines: list[float | None] = []

    async def __call__(self, token: PageToken | None) -> tuple[Sequence[str], PageToken | None]:
        self.deadlines.append(deadline.remaining())
        try:
            body = await self.http.get_json("/items", params={"page": token or 1})
        except asyncio.CancelledError:
            self.cancelled.append(token)
            raise
        return body["items"], body["next"]


def prefetch_tasks() -> list[asyncio.Task[Any]]:
    """paginate's prefetch tasks still alive in this loop (the servers' are not counted)."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "_fetch" and not task.done()
    ]


async def collect(stream: AsyncIterator[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return [pair async for pair in stream]


async def test_all_items_with_cursors(api: tuple[PagedAPI, ProviderHTTP]) -> None:
    fake, http = api
    pairs = await collect(paginate(Fetcher(http)))
    assert [item for item, _ in pairs] == [f"p{p}-{i}" for p in range(1, 6) for i in range(3)]
    assert pairs[0][1] == [None, 0]  # the first page is named by no token
    assert pairs[4][1] == [2, 1]
    assert pairs[-1][1] == [5, 2]
    assert fake.requested == [1, 2, 3, 4, 5]  # no request past the last page


async def test_prefetch_overlaps_fetching_and_handling() -> None:
    fake = PagedAPI(pages=5, per_page=2, delay=0.2)
    app = web.Application()
    app.router.add_get("/items", fake.items)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = ProviderHTTP("t", str(server.make_url("")), BearerAuth("tok-1234"), allow_private=True)
    try:
        started = time.monotonic()
        count = 0
        async for _item, _cursor in paginate(Fetcher(http)):
            count += 1
            await asyncio.sleep(0.1)  # 0.2 s of handling per page of two
        elapsed = time.monotonic() - started
    finally:
        await http.close()
        await server.close()
    assert count == 10
    # Serial would be 5 x (0.2 + 0.2) = 2.0 s; overlapped about 0.2 + 5 x 0.2 = 1.2 s.
    assert 1.1 <= elapsed < 1.6, elapsed


async def test_without_prefetch_pages_are_fetched_on_demand(
    api: tuple[PagedAPI, ProviderHTTP],
) -> None:
    fake, http = api
    async with aclosing(paginate(Fetcher(http), prefetch=False)) as stream:
        async for item, _ in stream:
            if item == "p2-0":
                break
    await asyncio.sleep(0.05)
    assert fake.requested == [1, 2]


@pytest.mark.parametrize(
    ("after", "first"),
    [
        ([None, 0], "p1-1"),
        ([2, 1], "p2-2"),
        ([2, 2], "p3-0"),  # the last item of a page: continue on the next
        ((4, 0), "p4-1"),
    ],
)
async def test_resume_after_a_cursor(
    api: tuple[PagedAPI, ProviderHTTP], after: Any, first: str
) -> None:
    fake, http = api
    cursor = json.loads(json.dumps(after))  # as it comes back from a resume token
    pairs = await collect(paginate(Fetcher(http), cursor))
    assert pairs[0][0] == first
    assert pairs[-1] == ("p5-2", [5, 2])
    assert fake.requested[0] == (after[0] or 1)  # the page the cursor named, fetched again
    everything = await collect(paginate(Fetcher(http)))
    position = next(i for i, (_, c) in enumerate(everything) if c == list(after))
    assert pairs == everything[position + 1 :]


async def test_early_exit_cancels_the_prefetch() -> None:
    fake = PagedAPI(pages=5, per_page=3, delay=0.2)
    app = web.Application()
    app.router.add_get("/items", fake.items)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = ProviderHTTP("t", str(server.make_url("")), BearerAuth("tok-1234"), allow_private=True)
    fetch = Fetcher(http)
    try:
        async with aclosing(paginate(fetch)) as stream:
            async for _item, _ in stream:
                await asyncio.sleep(0.05)  # page 2 is in flight now
                break
        assert fetch.cancelled == [2]
        assert prefetch_tasks() == []
        await asyncio.sleep(0.4)
        assert fake.requested == [1, 2]  # nothing after the stream was closed
        assert fake.finished == [1]  # and page 2's request was torn down, not completed
    finally:
        await http.close()
        await server.close()


async def test_break_without_aclose_still_stops_the_prefetch(
    api: tuple[PagedAPI, ProviderHTTP],
) -> None:
    fake, http = api
    fake.delay = 0.1
    fetch = Fetcher(http)
    async for _item, _ in paginate(fetch):
        await asyncio.sleep(0.02)
        break
    # The abandoned generator is closed by asyncio's finalizer hook shortly after.
    for _ in range(50):
        if fetch.cancelled:
            break
        await asyncio.sleep(0.01)
    assert fetch.cancelled == [2]
    assert prefetch_tasks() == []
    await asyncio.sleep(0.15)
    assert fake.requested == [1, 2]


async def test_consumer_failing_without_aclose_still_stops_the_prefetch(
    api: tuple[PagedAPI, ProviderHTTP],
) -> None:
    fake, http = api
    fake.delay = 0.1
    fetch = Fetcher(http)

    async def consume() -> None:
        async for _item, _ in paginate(fetch):
            await asyncio.sleep(0.02)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await consume()
    for _ in range(50):
        if fetch.cancelled:
            break
        await asyncio.sleep(0.01)
    assert fetch.cancelled == [2] and prefetch_tasks() == []


async def test_cancelling_the_consumer_cancels_the_prefetch(
    api: tuple[PagedAPI, ProviderHTTP],
) -> None:
    fake, http = api
    fake.delay = 0.1
    fetch = Fetcher(http)
    seen: list[str] = []

    async def consume() -> None:
        async with aclosing(paginate(fetch)) as stream:
            async for item, _ in stream:
                seen.append(item)
                await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.15)  # page 1 handled, page 2 being fetched
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["p1-0"] and fetch.cancelled == [2]
    assert prefetch_tasks() == []


async def test_errors_surface_and_an_unread_failed_prefetch_is_quiet(
    api: tuple[PagedAPI, ProviderHTTP],
) -> None:
    fake, http = api
    fake.missing = {2}
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: reported.append(ctx))

    with pytest.raises(NotFound):
        await collect(paginate(Fetcher(http)))

    async with aclosing(paginate(Fetcher(http))) as stream:
        async for _item, _ in stream:
            await asyncio.sleep(0.05)  # page 2's fetch fails meanwhile
            break
    await asyncio.sleep(0)
    assert reported == []  # no "Task exception was never retrieved"


async def test_the_deadline_reaches_the_prefetch(api: tuple[PagedAPI, ProviderHTTP]) -> None:
    _, http = api
    fetch = Fetcher(http)
    token = deadline.set_from_remaining(5.0)
    try:
        await collect(paginate(fetch))
    finally:
        deadline.reset(token)
    assert len(fetch.deadlines) == 5
    assert all(left is not None and 0 < left <= 5.0 for left in fetch.deadlines)


@pytest.mark.parametrize(
    "after",
    ["abc", 3, [1], [1, 2, 3], [None, -1], [None, "1"], [None, True], [None, 1.5], {"a": 1}],
)
async def test_malformed_cursor(after: Any) -> None:
    calls: list[Any] = []

    async def fetch(token: PageToken | None) -> tuple[Sequence[int], PageToken | None]:
        calls.append(token)
        return [1], None

    with pytest.raises(InvalidArgument) as caught:
        await collect(paginate(fetch, after))
    assert caught.value.reason == "INVALID_RESUME_TOKEN"
    assert calls == []


async def test_a_provider_repeating_its_page_token_does_not_loop() -> None:
    calls: list[Any] = []

    async def fetch(token: PageToken | None) -> tuple[Sequence[int], PageToken | None]:
        calls.append(token)
        return [len(calls)], "same"

    items = [item async for item, _ in paginate(fetch)]
    assert items == [1, 2] and calls == [None, "same"]
