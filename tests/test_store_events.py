"""SqliteStore's event log and webhook outbox (migration 2)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ticketing_grpc.secretbox import SecretBox
from ticketing_grpc.store import (
    Delivery,
    EventRecord,
    IntegrationRow,
    Store,
    StoreError,
    UnknownIntegrationError,
)
from ticketing_grpc.store import sqlite as sqlite_store
from ticketing_grpc.store.sqlite import SqliteStore

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
PAYLOAD_MARKER = b"PAYLOAD-MARKER-do-not-log"
URL_A = "https://hooks.example.com/a"
URL_B = "https://hooks.example.com/b"
URL_C = "https://hooks.example.com/c"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
async def store(db_path: Path, box: SecretBox) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(db_path, box)
    for integration in ("a", "b"):
        await s.create_integration(_integration(integration))
    yield s
    await s.close()


def _integration(id_: str) -> IntegrationRow:
    return IntegrationRow(
        id=id_,
        provider="ticketing_mock_ticketing",
        token_hash=b"hash-" + id_.encode(),
        config=b"config",
        created_at=T0,
        updated_at=T0,
    )


_counter = 0


def _event(
    integration: str = "a",
    *,
    received: datetime = T0,
    payload: bytes = PAYLOAD_MARKER,
    id_: str | None = None,
) -> EventRecord:
    global _counter
    _counter += 1
    return EventRecord(
        id=id_ or f"evt-{_counter}",
        integration_id=integration,
        event_type=2,
        ticket_id=f"T-{_counter}",
        entity_date="2024-05-01T12:00:00Z",
        priority=3,
        short_description=f"ticket {_counter}",
        raw_payload=payload,
        received_at=received,
    )


async def _append(store: Store, event: EventRecord, **kwargs: object) -> EventRecord:
    stored = await store.append_event(event, **kwargs)  # type: ignore[arg-type]
    assert stored is not None
    return stored


def _raw(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def _claim_all(store: Store, now: datetime = T0, **kwargs: object) -> list[Delivery]:
    return await store.claim_deliveries(now, now + timedelta(minutes=1), 1000, **kwargs)  # type: ignore[arg-type]


async def test_satisfies_protocol(store: SqliteStore) -> None:
    typed: Store = store
    assert await typed.read_events("a", 0, 10) == []
    assert await typed.get_event(1) is None


async def test_sequences_start_at_one_and_increase_across_integrations(
    store: SqliteStore,
) -> None:
    sequences = [(await _append(store, _event(integration))).sequence for integration in "abab" * 3]
    assert sequences == list(range(1, 13))


async def test_sequences_never_reused_after_prune_delete_and_reopen(
    db_path: Path, box: SecretBox
) -> None:
    s = await SqliteStore.open(db_path, box)
    await s.create_integration(_integration("a"))
    await s.create_integration(_integration("b"))
    for _ in range(3):
        await _append(s, _event("a"))
    await _append(s, _event("b"))
    assert await s.prune_events(T0 + SECOND) == 4
    assert await s.read_events("a", 0, 10) == []
    await s.close()

    s = await SqliteStore.open(db_path, box)
    try:
        assert (await _append(s, _event("a"))).sequence == 5
        # The newest event gone with its integration: its sequence still is not reused.
        assert (await _append(s, _event("b"))).sequence == 6
        assert await s.delete_integration("b")
        await s.close()
        s = await SqliteStore.open(db_path, box)
        assert (await _append(s, _event("a"))).sequence == 7
    finally:
        await s.close()


async def test_append_returns_record_and_reads_back(store: SqliteStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    received = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=plus_two)
    event = _event(received=received)
    stored = await _append(store, event)

    assert stored.sequence == 1
    assert stored == EventRecord(**{**event.__dict__, "sequence": 1})
    got = await store.get_event(1)
    assert got == stored
    assert got is not None
    assert got.received_at.utcoffset() == timedelta(0)
    assert got.received_at == received
    assert await store.read_events("a", 0, 10) == [stored]
    assert await store.get_event(2) is None


async def test_raw_payload_bytes_round_trip_exactly(store: SqliteStore, db_path: Path) -> None:
    payloads = [
        b"",
        b"\x00\xff\xfe\x80 not utf-8 \xc3\x28",
        bytes(range(256)),
        "Ünïcode ✓".encode(),
        b"x" * 100_000,
    ]
    for payload in payloads:
        await _append(store, _event(payload=payload))

    assert [e.raw_payload for e in await store.read_events("a", 0, 100)] == payloads
    for sequence, payload in enumerate(payloads, start=1):
        got = await store.get_event(sequence)
        assert got is not None
        assert type(got.raw_payload) is bytes
        assert got.raw_payload == payload
    assert _raw(db_path, "SELECT DISTINCT typeof(raw_payload) FROM events") == [("blob",)]


async def test_payload_hidden_from_repr(store: SqliteStore) -> None:
    stored = await _append(store, _event())
    assert "PAYLOAD-MARKER" not in repr(stored)


async def test_dedup_returns_none_and_writes_nothing(store: SqliteStore) -> None:
    first = await _append(store, _event(), dedup_key="provider-42", targets=[URL_A, URL_B])
    retry = _event(payload=b"the provider's retry")

    assert await store.append_event(retry, dedup_key="provider-42", targets=[URL_A, URL_C]) is None

    assert await store.read_events("a", 0, 10) == [first]
    assert await store.count_deliveries("a") == 2
    assert {d.target_url for d in await _claim_all(store)} == {URL_A, URL_B}
    # The rejected retry did not consume a sequence.
    assert (await _append(store, _event())).sequence == first.sequence + 1


async def test_dedup_key_is_per_integration_and_none_never_collides(
    store: SqliteStore,
) -> None:
    await _append(store, _event("a"), dedup_key="k")
    await _append(store, _event("b"), dedup_key="k")
    await _append(store, _event("a"))
    await _append(store, _event("a"))
    await _append(store, _event("a"), dedup_key="k2")
    assert await store.append_event(_event("b"), dedup_key="k") is None

    assert len(await store.read_events("a", 0, 10)) == 4
    assert len(await store.read_events("b", 0, 10)) == 1


async def test_unknown_integration_rejected_without_writing(
    store: SqliteStore, db_path: Path
) -> None:
    with pytest.raises(UnknownIntegrationError) as excinfo:
        await store.append_event(_event("ghost"), dedup_key="k", targets=[URL_A])
    assert "PAYLOAD-MARKER" not in str(excinfo.value)
    assert _raw(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert _raw(db_path, "SELECT count(*) FROM deliveries") == [(0,)]
    with pytest.raises(UnknownIntegrationError):
        await store.disable_target("ghost", URL_A, "410 Gone")


async def test_duplicate_event_id_rejected_atomically(store: SqliteStore) -> None:
    await _append(store, _event(id_="same"), targets=[URL_A])
    with pytest.raises(StoreError) as excinfo:
        await store.append_event(_event("b", id_="same"), targets=[URL_A, URL_B])
    assert "PAYLOAD-MARKER" not in str(excinfo.value)
    assert await store.read_events("b", 0, 10) == []
    assert await store.count_deliveries("b") == 0
    assert await store.count_deliveries("a") == 1


async def test_one_delivery_per_distinct_target_due_at_once(store: SqliteStore) -> None:
    received = T0 + timedelta(hours=1)
    event = await _append(store, _event(received=received), targets=[URL_B, URL_A, URL_B])
    await _append(store, _event("b", received=received), targets=[URL_A])

    assert await store.count_deliveries("a") == 2
    assert await store.count_deliveries("a", "abandoned") == 0
    assert await _claim_all(store, received - timedelta(microseconds=1)) == []

    claimed = await _claim_all(store, received)
    assert [(d.integration_id, d.target_url) for d in claimed] == [
        ("a", URL_B),
        ("a", URL_A),
        ("b", URL_A),
    ]
    for delivery in claimed[:2]:
        assert delivery.event_sequence == event.sequence
        assert delivery.attempts == 0
        assert delivery.created_at == received
        assert re.fullmatch(r"msg_[0-9a-f]{32}", delivery.webhook_id)
    assert len({d.webhook_id for d in claimed}) == 3


async def test_no_targets_stores_event_without_deliveries(store: SqliteStore) -> None:
    await _append(store, _event())
    assert await store.count_deliveries("a") == 0
    assert len(await store.read_events("a", 0, 10)) == 1


async def test_a_single_string_is_not_a_list_of_targets(store: SqliteStore) -> None:
    with pytest.raises(TypeError):
        await store.append_event(_event(), targets=URL_A)
    assert await store.read_events("a", 0, 10) == []


async def test_disabled_targets_skipped_until_enabled(store: SqliteStore) -> None:
    await _append(store, _event(), targets=[URL_A, URL_B])
    await _append(store, _event(), targets=[URL_A])
    await _append(store, _event("b"), targets=[URL_A])

    assert await store.disable_target("a", URL_A, "410 Gone") == 2
    assert await store.count_deliveries("a") == 1
    assert await store.count_deliveries("a", "abandoned") == 2
    assert await store.count_deliveries("b") == 1  # same URL, other integration

    # Idempotent: nothing left to abandon, and still disabled.
    assert await store.disable_target("a", URL_A, "410 Gone again") == 0
    await _append(store, _event(), targets=[URL_A, URL_B])
    assert [d.target_url for d in await _claim_all(store) if d.integration_id == "a"] == [
        URL_B,
        URL_B,
    ]
    await _append(store, _event("b"), targets=[URL_A])
    assert await store.count_deliveries("b") == 2

    await store.enable_targets("a")
    await _append(store, _event(received=T0 + SECOND), targets=[URL_A, URL_B])
    claimed = await _claim_all(store, T0 + SECOND)
    assert sorted(d.target_url for d in claimed if d.integration_id == "a") == [URL_A, URL_B]
    # Enabling does not bring the abandoned deliveries back.
    assert await store.count_deliveries("a", "abandoned") == 2


async def test_claim_respects_due_time_order_and_limit(store: SqliteStore) -> None:
    late = await _append(store, _event(received=T0 + 2 * SECOND), targets=[URL_A])
    early = await _append(store, _event(received=T0), targets=[URL_A, URL_B])
    middle = await _append(store, _event(received=T0 + SECOND), targets=[URL_C])

    assert await store.claim_deliveries(T0, T0 + 60 * SECOND, 0) == []
    assert await store.claim_deliveries(T0, T0 + 60 * SECOND, -1) == []
    first = await store.claim_deliveries(T0 + 5 * SECOND, T0 + 60 * SECOND, 2)
    assert [(d.event_sequence, d.target_url) for d in first] == [
        (early.sequence, URL_A),
        (early.sequence, URL_B),
    ]
    rest = await store.claim_deliveries(T0 + 5 * SECOND, T0 + 60 * SECOND, 10)
    assert [d.event_sequence for d in rest] == [middle.sequence, late.sequence]


async def test_claim_skips_busy_targets(store: SqliteStore) -> None:
    await _append(store, _event("a"), targets=[URL_A, URL_B])
    await _append(store, _event("b"), targets=[URL_A])

    claimed = await _claim_all(store, busy={("a", URL_A), ("b", URL_C), ("x'); --", "y")})
    assert [(d.integration_id, d.target_url) for d in claimed] == [("a", URL_B), ("b", URL_A)]
    # The skipped one was not leased.
    assert [(d.integration_id, d.target_url) for d in await _claim_all(store)] == [("a", URL_A)]


async def test_claim_with_many_busy_pairs(store: SqliteStore) -> None:
    await _append(store, _event(), targets=[URL_A, URL_B])
    busy = {("a", f"https://hooks.example.com/{n}") for n in range(40_000)} | {("a", URL_A)}
    assert [d.target_url for d in await _claim_all(store, busy=busy)] == [URL_B]


async def test_lease_blocks_reclaim_until_it_ends(store: SqliteStore) -> None:
    await _append(store, _event(), targets=[URL_A])
    lease_until = T0 + 30 * SECOND
    [delivery] = await store.claim_deliveries(T0, lease_until, 10)

    assert await store.claim_deliveries(T0, T0 + 60 * SECOND, 10) == []
    before_end = lease_until - timedelta(microseconds=1)
    assert await store.claim_deliveries(before_end, before_end + SECOND, 10) == []
    [again] = await store.claim_deliveries(lease_until, lease_until + SECOND, 10)
    assert again == delivery  # same id and webhook-id, no attempt counted
    assert await store.count_deliveries("a") == 1


async def test_claim_rejects_lease_not_after_now(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="lease_until"):
        await store.claim_deliveries(T0, T0, 10)


async def test_naive_timestamps_rejected(store: SqliteStore) -> None:
    naive = datetime(2024, 5, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.append_event(_event(received=naive))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.prune_events(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.claim_deliveries(naive, naive + SECOND, 1)


async def test_reschedule_counts_attempt_and_delays(store: SqliteStore, db_path: Path) -> None:
    await _append(store, _event(), targets=[URL_A])
    [delivery] = await _claim_all(store)
    retry_at = T0 + 10 * SECOND

    await store.reschedule_delivery(delivery.id, retry_at, "HTTP 503")

    # Rescheduling replaces the lease: due at retry_at, not at the lease's end (T0 + 60s).
    assert await _claim_all(store, retry_at - timedelta(microseconds=1)) == []
    [again] = await _claim_all(store, retry_at)
    assert (again.id, again.webhook_id, again.attempts) == (delivery.id, delivery.webhook_id, 1)
    assert _raw(db_path, "SELECT last_error FROM deliveries") == [("HTTP 503",)]

    await store.reschedule_delivery(again.id, retry_at + SECOND, "timeout")
    [third] = await _claim_all(store, retry_at + SECOND)
    assert third.attempts == 2
    assert _raw(db_path, "SELECT last_error FROM deliveries") == [("timeout",)]


async def test_complete_removes_delivery(store: SqliteStore) -> None:
    await _append(store, _event(), targets=[URL_A, URL_B])
    first, second = await _claim_all(store)

    await store.complete_delivery(first.id)
    await store.complete_delivery(first.id)  # harmless twice
    assert await store.count_deliveries("a") == 1
    assert await store.count_deliveries("a", "abandoned") == 0
    assert [d.id for d in await _claim_all(store, T0 + timedelta(hours=1))] == [second.id]


async def test_abandon_keeps_row_but_never_claims_it(store: SqliteStore, db_path: Path) -> None:
    await _append(store, _event(), targets=[URL_A])
    [delivery] = await _claim_all(store)

    await store.abandon_delivery(delivery.id, "too many attempts")

    assert await store.count_deliveries("a") == 0
    assert await store.count_deliveries("a", "abandoned") == 1
    assert await _claim_all(store, T0 + timedelta(days=365)) == []
    assert _raw(db_path, "SELECT state, last_error FROM deliveries") == [
        ("abandoned", "too many attempts")
    ]
    # An attempt that ends after the give-up does not bring it back.
    await store.reschedule_delivery(delivery.id, T0, "HTTP 500")
    assert await store.count_deliveries("a") == 0
    assert await _claim_all(store, T0 + timedelta(days=365)) == []


async def test_disable_target_abandons_in_flight_delivery(store: SqliteStore) -> None:
    await _append(store, _event(), targets=[URL_A])
    [in_flight] = await _claim_all(store)

    assert await store.disable_target("a", URL_A, "410 Gone") == 1
    await store.reschedule_delivery(in_flight.id, T0, "HTTP 502")

    assert await store.count_deliveries("a") == 0
    assert await _claim_all(store, T0 + timedelta(hours=1)) == []


async def test_count_deliveries_rejects_unknown_state(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.count_deliveries("a", "done")


async def test_prune_keeps_events_with_pending_deliveries(store: SqliteStore) -> None:
    old_pending = await _append(store, _event(received=T0), targets=[URL_A])
    old_delivered = await _append(store, _event(received=T0), targets=[URL_B])
    old_abandoned = await _append(store, _event(received=T0), targets=[URL_C])
    old_bare = await _append(store, _event("b", received=T0))
    at_cutoff = await _append(store, _event(received=T0 + timedelta(days=1)))
    new = await _append(store, _event(received=T0 + timedelta(days=2)))
    by_target = {d.target_url: d for d in await _claim_all(store)}
    await store.complete_delivery(by_target[URL_B].id)
    await store.abandon_delivery(by_target[URL_C].id, "gave up")

    assert await store.prune_events(T0 + timedelta(days=1)) == 3

    assert await store.get_event(old_pending.sequence) == old_pending
    assert await store.get_event(at_cutoff.sequence) == at_cutoff  # not before the cutoff
    assert await store.get_event(new.sequence) == new
    for gone in (old_delivered, old_abandoned, old_bare):
        assert await store.get_event(gone.sequence) is None
    assert await store.count_deliveries("a", "abandoned") == 0
    assert await store.count_deliveries("a") == 1
    assert await store.prune_events(T0) == 0
    # Once delivered, it goes too.
    await store.complete_delivery(by_target[URL_A].id)
    assert await store.prune_events(T0 + timedelta(days=1)) == 1
    assert await store.read_events("a", 0, 10) == [at_cutoff, new]


async def test_integration_delete_cascades_events_and_outbox(
    store: SqliteStore, db_path: Path
) -> None:
    await _append(store, _event("a"), targets=[URL_A, URL_B])
    await _append(store, _event("a"), targets=[URL_A])
    kept = await _append(store, _event("b"), targets=[URL_A])
    await store.disable_target("a", URL_B, "410 Gone")

    assert await store.delete_integration("a")

    assert await store.read_events("a", 0, 10) == []
    assert await store.count_deliveries("a") == 0
    assert await store.count_deliveries("a", "abandoned") == 0
    assert _raw(db_path, "SELECT count(*) FROM disabled_targets") == [(0,)]
    assert await store.read_events("b", 0, 10) == [kept]
    assert [d.integration_id for d in await _claim_all(store)] == ["b"]

    # Re-created under the same id: nothing of the old one is left behind.
    await store.create_integration(_integration("a"))
    await _append(store, _event("a"), targets=[URL_B])
    assert await store.count_deliveries("a") == 1


async def test_read_events_order_after_and_limit(store: SqliteStore) -> None:
    a_events = []
    for n in range(6):
        a_events.append(await _append(store, _event("a")))
        if n % 2:
            await _append(store, _event("b"))

    assert await store.read_events("a", 0, 100) == a_events
    assert await store.read_events("a", 0, 2) == a_events[:2]
    assert await store.read_events("a", a_events[1].sequence, 3) == a_events[2:5]
    # "after" can be a sequence that belongs to another integration.
    b_first = (await store.read_events("b", 0, 1))[0]
    assert await store.read_events("a", b_first.sequence, 100) == [
        e for e in a_events if e.sequence > b_first.sequence
    ]
    assert await store.read_events("a", a_events[-1].sequence, 100) == []
    assert await store.read_events("a", 0, 0) == []
    assert await store.read_events("a", 0, -1) == []
    assert await store.read_events("ghost", 0, 10) == []


async def test_two_stores_claiming_concurrently_never_share(db_path: Path, box: SecretBox) -> None:
    first = await SqliteStore.open(db_path, box)
    second = await SqliteStore.open(db_path, box)
    try:
        await first.create_integration(_integration("a"))
        urls = [f"https://hooks.example.com/{n}" for n in range(20)]
        for _ in range(30):
            await _append(first, _event(), targets=urls)

        async def worker(store: SqliteStore) -> list[int]:
            ids: list[int] = []
            while batch := await store.claim_deliveries(T0, T0 + timedelta(hours=1), 2):
                ids.extend(d.id for d in batch)
            return ids

        # Each store has its own connection and thread, so the two really race; without
        # BEGIN IMMEDIATE this fails nearly every run (duplicates or "database is locked").
        results = await asyncio.gather(*(worker(s) for s in (first, second) for _ in range(4)))
        claimed = [i for ids in results for i in ids]
        assert len(claimed) == 600
        assert len(set(claimed)) == 600
        assert await first.claim_deliveries(T0, T0 + SECOND, 10) == []
    finally:
        await first.close()
        await second.close()


async def test_migration_2_upgrades_existing_database(
    db_path: Path, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_store, "MIGRATIONS", sqlite_store.MIGRATIONS[:1])
        s = await SqliteStore.open(db_path, box)
        await s.create_integration(_integration("a"))
        await s.close()
    assert _raw(db_path, "SELECT max(version) FROM schema_migrations") == [(1,)]

    s = await SqliteStore.open(db_path, box)
    try:
        assert await s.get_integration("a") == _integration("a")
        assert (await _append(s, _event(), targets=[URL_A])).sequence == 1
    finally:
        await s.close()
    assert _raw(db_path, "SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,)]


async def test_duplicate_migration_versions_refused(
    db_path: Path, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sqlite_store, "MIGRATIONS", [*sqlite_store.MIGRATIONS, (2, "CREATE TABLE x (y);")]
    )
    with pytest.raises(ValueError, match="unique and ascending"):
        await SqliteStore.open(db_path, box)
