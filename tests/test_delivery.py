"""The outbound webhook forwarder against a real HTTP receiver on 127.0.0.1.

The store is an in-memory fake of the outbox methods; time is an injected
clock, so retry schedules are asserted without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from ticketing.v1 import events_pb2, ticket_pb2

from ticketing_grpc.events.delivery import DeliverySettings, Forwarder
from ticketing_grpc.events.payload import EVENT_TYPE_NAMES, outbound_body
from ticketing_grpc.events.signing import headers as signing_headers
from ticketing_grpc.events.signing import sign
from ticketing_grpc.guarded_resolver import GuardedResolver, PrivateAddressError
from ticketing_grpc.store import Delivery, EventRecord

try:
    import standardwebhooks
except ImportError:  # pragma: no cover - the dev extra should install it
    standardwebhooks = None  # type: ignore[assignment]

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
INTEGRATION = "int-1"


# -- fakes ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        # Near real time: the standardwebhooks verifier checks the timestamp's age.
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        self.now = moment


@dataclass
class Row:
    id: int
    integration_id: str
    event_sequence: int
    target_url: str
    webhook_id: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    state: str = "pending"  # pending | done | abandoned
    errors: list[str] = field(default_factory=list)

    def delivery(self) -> Delivery:
        return Delivery(
            id=self.id,
            integration_id=self.integration_id,
            event_sequence=self.event_sequence,
            target_url=self.target_url,
            webhook_id=self.webhook_id,
            attempts=self.attempts,
            created_at=self.created_at,
        )


class FakeStore:
    """The event/outbox methods of store.Store the Forwarder uses, in memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: dict[int, EventRecord] = {}
        self.rows: dict[int, Row] = {}
        self.disabled: dict[tuple[str, str], str] = {}
        self.claims: list[tuple[int, list[tuple[str, str]]]] = []

    def add(
        self,
        targets: list[str],
        *,
        event: EventRecord | None = None,
        created_at: datetime | None = None,
    ) -> list[Row]:
        sequence = len(self.events) + 1
        event = event or make_event()
        self.events[sequence] = dataclasses.replace(event, sequence=sequence)
        rows = []
        for url in targets:
            row_id = len(self.rows) + 1
            created = created_at or self.clock()
            row = Row(
                row_id, event.integration_id, sequence, url, f"msg_{row_id}", created, created
            )
            self.rows[row_id] = row
            rows.append(row)
        return rows

    async def get_event(self, sequence: int) -> EventRecord | None:
        return self.events.get(sequence)

    async def claim_deliveries(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Collection[tuple[str, str]] = (),
    ) -> list[Delivery]:
        self.claims.append((limit, sorted(busy)))
        due = sorted(
            (
                row
                for row in self.rows.values()
                if row.state == "pending"
                and row.next_attempt_at <= now
                and (row.integration_id, row.target_url) not in busy
            ),
            key=lambda row: (row.next_attempt_at, row.id),
        )[:limit]
        for row in due:
            row.next_attempt_at = lease_until
        return [row.delivery() for row in due]

    async def complete_delivery(self, delivery_id: int) -> None:
        self.rows[delivery_id].state = "done"

    async def reschedule_delivery(
        self, delivery_id: int, next_attempt_at: datetime, error: str
    ) -> None:
        row = self.rows[delivery_id]
        if row.state == "pending":
            row.attempts += 1
            row.next_attempt_at = next_attempt_at
            row.errors.append(error)

    async def abandon_delivery(self, delivery_id: int, error: str) -> None:
        row = self.rows[delivery_id]
        if row.state == "pending":
            row.state = "abandoned"
            row.errors.append(error)

    async def disable_target(self, integration_id: str, target_url: str, reason: str) -> int:
        self.disabled[(integration_id, target_url)] = reason
        count = 0
        for row in self.rows.values():
            key = (row.integration_id, row.target_url)
            if key == (integration_id, target_url) and row.state == "pending":
                row.state = "abandoned"
                row.errors.append(reason)
                count += 1
        return count


def make_event(**overrides: Any) -> EventRecord:
    values: dict[str, Any] = {
        "id": "evt-1",
        "integration_id": INTEGRATION,
        "event_type": events_pb2.TICKET_CREATED,
        "ticket_id": "T-1",
        "entity_date": "2024-05-01T10:00:00.000+0200",
        "priority": ticket_pb2.HIGH,
        "short_description": "Printer on fire",
        "raw_payload": b'{"issue":{"key":"T-1","n":1.50}}',
        "received_at": datetime(2024, 5, 1, 8, 0, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return EventRecord(**values)


# -- the receiver ------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    """Answer only when the test releases it (or after 5 s)."""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.defaults: dict[str, Reply] = {}
        self.requests: list[Received] = []
        self.release = asyncio.Event()
        self.active = 0
        self.max_active = 0
        self.delay = 0.0
        self.app = web.Application()
        self.app.router.add_post("/{name}", self.handle)
        self.port = 0

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{name}"

    def script(self, name: str, *replies: Reply, default: Reply | None = None) -> None:
        self.scripts[name] = list(replies)
        if default is not None:
            self.defaults[name] = default

    def to(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.path == f"/{name}"]

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        queue = self.scripts.get(name) or []
        reply = queue.pop(0) if queue else self.defaults.get(name, Reply())
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if reply.hold:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), 5)
            elif self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        return web.Response(status=reply.status, headers=reply.headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = TestServer(recv.app, host="127.0.0.1", port=0)
    await server.start_server()
    assert server.port is not None
    recv.port = server.port
    try:
        yield recv
    finally:
        recv.release.set()
        await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> FakeStore:
    return FakeStore(clock)


Secrets = Callable[[str, str], Awaitable[str | None]]


def secrets_from(table: dict[str, str]) -> Secrets:
    async def lookup(integration_id: str, url: str) -> str | None:
        assert integration_id == INTEGRATION
        return table.get(url)

    return lookup


@pytest.fixture
async def make_forwarder(store: FakeStore, clock: Clock) -> AsyncIterator[Callable[..., Forwarder]]:
    made: list[Forwarder] = []

    def make(
        secrets: dict[str, str] | None = None, *, allow_private: bool = True, **settings: Any
    ) -> Forwarder:
        values: dict[str, Any] = {"timeout": 2.0, "lease": 10.0, "poll_interval": 0.05}
        values.update(settings)
        forwarder = Forwarder(
            store,
            secrets_from(secrets or {}),
            DeliverySettings(**values),
            allow_private=allow_private,
            clock=clock,
        )
        made.append(forwarder)
        return forwarder

    yield make
    for forwarder in made:
        await forwarder.stop()


def verify(secret: str, received: Received) -> Any:
    """Verify with the reference library (or our own HMAC when it is missing)."""
    if standardwebhooks is not None:
        return standardwebhooks.Webhook(secret).verify(received.body, received.headers)
    signed = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}."
    digest = hmac.new(KEY, signed.encode() + received.body, hashlib.sha256).digest()
    assert received.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    return json.loads(received.body)


def skip_if_no_reference() -> None:
    if standardwebhooks is None:
        pytest.skip(
            "standardwebhooks is NOT installed: signatures were only checked against our own "
            "HMAC; install it (dev extra) to verify with the reference implementation"
        )


def delay_of(row: Row, clock: Clock) -> float:
    return (row.next_attempt_at - clock()).total_seconds()


# -- payload and signing ---------------------------------------------------------------


def test_outbound_body_shape() -> None:
    body = outbound_body(make_event(sequence=7))
    assert b", " not in body and b'": ' not in body  # compact
    decoded = json.loads(body)
    assert list(decoded) == [
        "id",
        "sequence",
        "integration_id",
        "event_type",
        "ticket_id",
        "entity_date",
        "priority",
        "short_description",
        "raw_payload",
        "received_at",
    ]
    assert decoded == {
        "id": "evt-1",
        "sequence": 7,
        "integration_id": INTEGRATION,
        "event_type": "TicketCreated",
        "ticket_id": "T-1",
        "entity_date": "2024-05-01T10:00:00.000+0200",
        "priority": "HIGH",
        "short_description": "Printer on fire",
        "raw_payload": {"issue": {"key": "T-1", "n": 1.5}},
        "received_at": "2024-05-01T08:00:01Z",
    }
    # The raw JSON is embedded exactly as received (numbers untouched).
    assert b'"raw_payload":{"issue":{"key":"T-1","n":1.50}}' in body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"  [1, 2]\n", [1, 2]),
        (b'"text"', "text"),
        (b"null", None),
        (b"not json", "not json"),
        (b"", ""),
        (b'{"a": NaN}', '{"a": NaN}'),
        (b'{"big": 1e400}', {"big": float("inf")}),  # valid JSON text, kept verbatim
        (b"caf\xc3\xa9 \xff", "caf\u00e9 \ufffd"),
        (b'\xef\xbb\xbf{"bom": 1}', '\ufeff{"bom": 1}'),
    ],
)
def test_raw_payload_json_or_text(raw: bytes, expected: Any) -> None:
    body = outbound_body(make_event(raw_payload=raw))
    assert json.loads(body)["raw_payload"] == expected


def test_priority_event_type_and_time_spelling() -> None:
    assert set(EVENT_TYPE_NAMES.values()) == {
        "TicketCreated",
        "TicketUpdated",
        "TicketDeleted",
        "TicketCommentCreated",
        "TicketCommentDeleted",
    }
    assert EVENT_TYPE_NAMES[events_pb2.TICKET_COMMENT_DELETED] == "TicketCommentDeleted"
    event = make_event(
        priority=ticket_pb2.PRIORITY_UNSPECIFIED,
        event_type=events_pb2.TICKET_COMMENT_CREATED,
        received_at=datetime(2024, 5, 1, 10, 0, 1, 250000, tzinfo=UTC),
    )
    decoded = json.loads(outbound_body(event))
    assert decoded["priority"] is None
    assert decoded["event_type"] == "TicketCommentCreated"
    assert decoded["received_at"] == "2024-05-01T10:00:01.250000Z"
    non_utc = datetime.fromisoformat("2024-05-01T12:00:00+02:00")
    assert json.loads(outbound_body(make_event(received_at=non_utc)))["received_at"] == (
        "2024-05-01T10:00:00Z"
    )


def test_sign_matches_reference() -> None:
    signature = sign(SECRET, "msg_1", 1700000000, b'{"a":1}')
    digest = hmac.new(KEY, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(digest).decode()
    # The prefix is optional, as in the reference library.
    assert sign(SECRET.removeprefix("whsec_"), "msg_1", 1700000000, b'{"a":1}') == signature
    assert "webhook-signature" not in signing_headers(None, "msg_1", 1, b"{}")
    assert "webhook-signature" not in signing_headers("", "msg_1", 1, b"{}")
    with pytest.raises(ValueError) as caught:
        sign("whsec_a", "msg_1", 1, b"{}")
    assert "whsec_a" not in str(caught.value)
    if standardwebhooks is not None:
        now = int(time.time())
        body = b'{"x":1}'
        headers = signing_headers(SECRET, "msg_9", now, body)
        assert standardwebhooks.Webhook(SECRET).verify(body, headers) == {"x": 1}


# -- deliveries over HTTP ----------------------------------------------------------------


async def test_post_body_headers_and_signature(
    receiver: Receiver, store: FakeStore, clock: Clock, make_forwarder: Callable[..., Forwarder]
) -> None:
    url = receiver.url("signed")
    (row,) = store.add([url])
    forwarder = make_forwarder({url: SECRET})

    assert await forwarder.run_once() == 1

    (got,) = receiver.to("signed")
    assert got.body == outbound_body(store.events[1])
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["webhook-id"] == row.webhook_id
    assert got.headers["webhook-timestamp"] == str(int(clock().timestamp()))
    assert verify(SECRET, got)["sequence"] == 1
    assert row.state == "done"
    skip_if_no_reference()


async def test_unsigned_without_secret(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    (row,) = store.add([receiver.url("plain")])
    assert await make_forwarder().run_once() == 1
    (got,) = receiver.to("plain")
    assert "webhook-signature" not in got.headers
    assert got.headers["webhook-id"] == row.webhook_id
    assert row.state == "done"


async def test_retry_keeps_webhook_id_and_renews_timestamp(
    receiver: Receiver, store: FakeStore, clock: Clock, make_forwarder: Callable[..., Forwarder]
) -> None:
    url = receiver.url("flaky")
    receiver.script("flaky", Reply(500), Reply(200))
    (row,) = store.add([url])
    forwarder = make_forwarder({url: SECRET})

    assert await forwarder.run_once() == 1
    assert (row.state, row.attempts, row.errors) == ("pending", 1, ["HTTP 500"])
    assert 0.5 <= delay_of(row, clock) <= 1.0  # first retry after about a second
    assert await forwarder.run_once() == 0  # not due yet

    clock.advance(5)
    assert await forwarder.run_once() == 1
    assert row.state == "done"
    first, second = receiver.to("flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.webhook_id
    assert int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 5
    assert first.body == second.body
    verify(SECRET, first)
    verify(SECRET, second)
    skip_if_no_reference()


async def test_backoff_doubles_with_jitter_up_to_the_cap(
    receiver: Receiver, store: FakeStore, clock: Clock, make_forwarder: Callable[..., Forwarder]
) -> None:
    receiver.script("down", default=Reply(500))
    (row,) = store.add([receiver.url("down")])
    forwarder = make_forwarder(backoff_base=1.0, backoff_cap=8.0)

    delays = []
    for _ in range(7):
        assert await forwarder.run_once() == 1
        delays.append(delay_of(row, clock))
        clock.set(row.next_attempt_at)
    for attempt, delay in enumerate(delays):
        nominal = min(8.0, 2.0**attempt)
        assert nominal * 0.5 <= delay <= nominal, (attempt, delays)
    assert row.attempts == 7 and row.state == "pending"


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "2", 2.0),
        (503, "http-date+30", 30.0),
        (429, "100000000", 3600.0),  # capped at the give-up horizon
        (429, "0", 0.5),  # not a hot loop
        (500, "100", None),  # only 429/503 carry a Retry-After worth honouring
        (429, "soon", None),  # unparseable: the normal backoff
    ],
)
async def test_retry_after_is_honoured(
    receiver: Receiver,
    store: FakeStore,
    clock: Clock,
    make_forwarder: Callable[..., Forwarder],
    status: int,
    retry_after: str,
    expected: float | None,
) -> None:
    if retry_after == "http-date+30":
        retry_after = format_datetime(clock() + timedelta(seconds=30), usegmt=True)
    receiver.script("busy", Reply(status, {"Retry-After": retry_after}))
    (row,) = store.add([receiver.url("busy")])
    forwarder = make_forwarder(give_up_after=3600.0)

    assert await forwarder.run_once() == 1
    assert row.errors == [f"HTTP {status}"]
    if expected is None:
        assert 0.5 <= delay_of(row, clock) <= 1.0
    else:
        assert delay_of(row, clock) == pytest.approx(expected)


async def test_410_disables_the_target(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    gone, other = receiver.url("gone"), receiver.url("other")
    receiver.script("gone", default=Reply(410))
    first, other_row = store.add([gone, other])
    (second,) = store.add([gone])
    forwarder = make_forwarder(per_target=1)

    assert await forwarder.run_once() == 2  # one per target
    assert len(receiver.to("gone")) == 1
    assert (INTEGRATION, gone) in store.disabled
    assert first.state == second.state == "abandoned"
    assert "410" in first.errors[0]
    assert other_row.state == "done"
    assert await forwarder.run_once() == 0


async def test_gives_up_after_the_age(
    receiver: Receiver, store: FakeStore, clock: Clock, make_forwarder: Callable[..., Forwarder]
) -> None:
    receiver.script("down", default=Reply(502))
    (old,) = store.add([receiver.url("down")], created_at=clock() - timedelta(seconds=61))
    (young,) = store.add([receiver.url("down")], created_at=clock() - timedelta(seconds=59))
    forwarder = make_forwarder(give_up_after=60.0)

    assert await forwarder.run_once() == 2
    assert old.state == "abandoned" and old.errors == ["HTTP 502"]
    assert young.state == "pending" and young.attempts == 1

    clock.advance(5)  # now the young one is too old as well
    assert await forwarder.run_once() == 1
    assert young.state == "abandoned"


async def test_missing_event_is_abandoned(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    (row,) = store.add([receiver.url("x")])
    del store.events[row.event_sequence]
    assert await make_forwarder().run_once() == 1
    assert row.state == "abandoned"
    assert receiver.requests == []


async def test_timeout_and_redirect_are_failures(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    receiver.script("slow", Reply(200, hold=True))
    receiver.script("moved", Reply(307, {"Location": "/elsewhere"}))
    slow, moved = store.add([receiver.url("slow"), receiver.url("moved")])
    forwarder = make_forwarder(timeout=0.3)

    started = time.monotonic()
    assert await forwarder.run_once() == 2
    assert time.monotonic() - started < 1.5
    assert slow.errors == ["timed out after 0.3s"] and slow.state == "pending"
    assert moved.errors == ["HTTP 307"] and moved.state == "pending"
    assert [r.path for r in receiver.requests if r.path == "/elsewhere"] == []


async def test_per_target_limit_bounds_concurrent_requests(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    receiver.delay = 0.1
    rows = [store.add([receiver.url("one")])[0] for _ in range(6)]
    forwarder = make_forwarder(per_target=2, concurrency=16)

    assert await forwarder.run_once() == 2  # never more than per_target of one target leased
    assert receiver.max_active == 2
    assert all(limit <= 2 for limit, _ in store.claims)
    assert sum(1 for row in rows if row.state == "done") == 2


async def test_slow_target_does_not_delay_a_fast_one(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    slow, fast = receiver.url("slow"), receiver.url("fast")
    receiver.script("slow", default=Reply(200, hold=True))  # sleeps up to 5 s
    slow_rows = store.add([slow]) + store.add([slow])  # oldest first: claimed first
    fast_rows = [store.add([fast])[0] for _ in range(5)]
    forwarder = make_forwarder(per_target=1, concurrency=2, timeout=4.0)

    started = time.monotonic()
    await forwarder.start()
    forwarder.wake()
    while not all(row.state == "done" for row in fast_rows):
        assert time.monotonic() - started < 1.0, "the fast target waited for the slow one"
        await asyncio.sleep(0.01)
    assert len(receiver.to("slow")) == 1  # still held; its second delivery is not started
    assert all(row.state == "pending" for row in slow_rows)

    stopping = time.monotonic()
    await forwarder.stop()
    assert time.monotonic() - stopping < 0.5  # in-flight attempts are cancelled, not awaited
    # The cancelled attempt is due again at once, counted as a failed attempt.
    assert slow_rows[0].attempts == 1 and slow_rows[0].state == "pending"
    assert slow_rows[0].errors == ["interrupted by shutdown"]


async def test_wake_starts_new_deliveries_before_the_next_poll(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    forwarder = make_forwarder(poll_interval=30.0)
    await forwarder.start()
    await asyncio.sleep(0.05)  # the loop found nothing and waits for 30 s
    (row,) = store.add([receiver.url("woken")])
    forwarder.wake()
    for _ in range(100):
        if row.state == "done":
            break
        await asyncio.sleep(0.01)
    assert row.state == "done"


# -- private addresses -------------------------------------------------------------------


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "127.1", "2130706433"])
async def test_private_targets_are_refused(
    receiver: Receiver,
    store: FakeStore,
    make_forwarder: Callable[..., Forwarder],
    host: str,
) -> None:
    if host == "localhost" and not _resolves("localhost"):
        pytest.skip("localhost does not resolve here")
    url = receiver.url("inside", host=host)
    (row,) = store.add([url])
    forwarder = make_forwarder({url: SECRET}, allow_private=False)

    assert await forwarder.run_once() == 1
    assert receiver.requests == []
    assert row.state == "pending" and row.attempts == 1
    (error,) = row.errors
    assert error.startswith("refused: ") and "private" in error, error
    assert host.strip("[]") in error
    assert SECRET not in error and SECRET.removeprefix("whsec_") not in error


async def test_allow_private_reaches_localhost_by_name(
    receiver: Receiver, store: FakeStore, make_forwarder: Callable[..., Forwarder]
) -> None:
    if not _resolves("localhost"):
        pytest.skip("localhost does not resolve here")
    (row,) = store.add([receiver.url("named", host="localhost")])
    assert await make_forwarder(allow_private=True).run_once() == 1
    assert row.state == "done", row.errors


class StaticResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (("93.184.216.34",), False),
        (("2606:2800:220:1:248:1893:25c8:1946",), False),
        (("93.184.216.34", "10.0.0.5"), True),  # one internal answer is enough
        (("169.254.169.254",), True),  # cloud metadata
        (("192.168.1.1",), True),
        (("::ffff:127.0.0.1",), True),
        (("fe80::1%eth0",), True),
        (("100.64.0.1",), True),  # carrier-grade NAT: not global
    ],
)
async def test_guarded_resolver(addresses: tuple[str, ...], refused: bool) -> None:
    guarded = GuardedResolver(resolver=StaticResolver(*addresses))
    if refused:
        with pytest.raises(PrivateAddressError) as caught:
            await guarded.resolve("hooks.example.com", 443)
        assert "hooks.example.com" in str(caught.value)
    else:
        assert [r["host"] for r in await guarded.resolve("hooks.example.com", 443)] == list(
            addresses
        )
    permissive = GuardedResolver(allow_private=True, resolver=StaticResolver(*addresses))
    assert len(await permissive.resolve("hooks.example.com", 443)) == len(addresses)


async def test_guarded_resolver_with_the_default_resolver() -> None:
    if not _resolves("localhost"):
        pytest.skip("localhost does not resolve here")
    guarded = GuardedResolver()
    try:
        with pytest.raises(OSError, match="'localhost'"):
            await guarded.resolve("localhost", 80, socket.AF_UNSPEC)
        assert await GuardedResolver(allow_private=True).resolve("localhost", 80)
    finally:
        await guarded.close()
