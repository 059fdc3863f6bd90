from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ticketing_grpc.secretbox import SecretBox, SecretKeyError
from ticketing_grpc.store import (
    DuplicateIntegrationError,
    IntegrationRow,
    SchemaVersionError,
    Store,
    StoreError,
    UnknownIntegrationError,
)
from ticketing_grpc.store import sqlite as sqlite_store
from ticketing_grpc.store.sqlite import SqliteStore

MARKER = b"PLAINTEXT-MARKER-s3cr3t"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "store.db"


@pytest.fixture
async def store(db_path: Path, box: SecretBox) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(db_path, box)
    yield s
    await s.close()


def _row(
    id_: str, *, token: bytes | None = None, created: datetime = T0, config: bytes = MARKER
) -> IntegrationRow:
    return IntegrationRow(
        id=id_,
        provider="ticketing_mock_ticketing",
        token_hash=token if token is not None else b"hash-" + id_.encode(),
        config=config,
        created_at=created,
        updated_at=created,
    )


def _raw(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {file.name: file.read_bytes() for file in folder.iterdir()}


async def test_satisfies_protocol(store: SqliteStore) -> None:
    typed: Store = store
    assert await typed.list_integrations() == []


async def test_creates_folder_and_uses_wal(store: SqliteStore, db_path: Path) -> None:
    assert db_path.name in _files(db_path.parent)
    assert _raw(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_sqlite_runs_off_the_loop_thread(store: SqliteStore) -> None:
    seen: list[threading.Thread] = []
    await store._run(lambda conn: seen.append(threading.current_thread()))
    assert seen[0] is not threading.current_thread()
    assert seen[0].name.startswith("sqlite-store")


async def test_config_is_encrypted_on_disk(store: SqliteStore, db_path: Path) -> None:
    await store.create_integration(_row("a"))
    await store.update_integration("a", MARKER + b"-v2", T0 + timedelta(hours=1))

    [(stored,)] = _raw(db_path, "SELECT config FROM integrations WHERE id = 'a'")
    assert isinstance(stored, bytes)
    assert MARKER not in stored
    for name, content in _files(db_path.parent).items():
        assert MARKER not in content, name

    got = await store.get_integration("a")
    assert got is not None
    assert got.config == MARKER + b"-v2"


async def test_row_repr_hides_config_and_token_hash() -> None:
    text = repr(_row("a", token=b"TOKEN-HASH"))
    assert "PLAINTEXT-MARKER" not in text
    assert "TOKEN-HASH" not in text


async def test_integration_crud(store: SqliteStore) -> None:
    row = _row("a", token=b"\x00\xfftoken")
    await store.create_integration(row)

    assert await store.get_integration("a") == row
    assert await store.get_integration("missing") is None
    assert await store.find_integration_by_token_hash(b"\x00\xfftoken") == row
    assert await store.find_integration_by_token_hash(b"\x00\xfftokem") is None

    later = T0 + timedelta(minutes=5)
    assert await store.update_integration("a", b"new config", later)
    updated = await store.get_integration("a")
    assert updated is not None
    assert (updated.config, updated.updated_at, updated.created_at) == (b"new config", later, T0)
    assert not await store.update_integration("missing", b"x", later)

    assert await store.delete_integration("a")
    assert await store.get_integration("a") is None
    assert await store.find_integration_by_token_hash(b"\x00\xfftoken") is None
    assert not await store.delete_integration("a")


async def test_timestamps_come_back_aware_utc(store: SqliteStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2024, 5, 1, 14, 0, 0, 250, tzinfo=plus_two)
    await store.create_integration(_row("a", created=created))
    got = await store.get_integration("a")
    assert got is not None
    assert got.created_at == created
    assert got.created_at.utcoffset() == timedelta(0)


async def test_naive_timestamp_rejected(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.create_integration(_row("a", created=datetime(2024, 1, 1)))


async def test_duplicates_rejected(store: SqliteStore) -> None:
    await store.create_integration(_row("a", token=b"t1"))
    with pytest.raises(DuplicateIntegrationError):
        await store.create_integration(_row("a", token=b"t2"))
    with pytest.raises(DuplicateIntegrationError) as excinfo:
        await store.create_integration(_row("b", token=b"t1"))
    assert "PLAINTEXT-MARKER" not in str(excinfo.value)


async def test_list_integrations_in_creation_order(store: SqliteStore) -> None:
    """Insertion order, not the (millisecond) timestamps or the random ids."""
    await store.create_integration(_row("c", created=T0 + timedelta(seconds=1)))
    await store.create_integration(_row("b", created=T0))
    await store.create_integration(_row("a", created=T0))
    await store.delete_integration("b")
    await store.create_integration(_row("0", created=T0))

    assert [r.id for r in await store.list_integrations()] == ["c", "a", "0"]


async def test_delete_cascades_to_documents_and_counters(store: SqliteStore) -> None:
    await store.create_integration(_row("a"))
    await store.create_integration(_row("b"))
    for integration in ("a", "b"):
        await store.put_document(integration, "ticket", "T-1", "", {"n": integration})
        await store.next_counter(integration, "ticket")
        await store.next_counter(integration, "ticket")

    assert await store.delete_integration("a")

    assert await store.get_document("a", "ticket", "T-1") is None
    assert await store.get_document("b", "ticket", "T-1") == {"n": "b"}
    db = await store._run(
        lambda conn: conn.execute(
            "SELECT (SELECT count(*) FROM documents WHERE integration_id = 'a'),"
            " (SELECT count(*) FROM counters WHERE integration_id = 'a')"
        ).fetchone()
    )
    assert db == (0, 0)

    await store.create_integration(_row("a"))
    assert await store.next_counter("a", "ticket") == 1
    assert await store.next_counter("b", "ticket") == 3


async def test_documents_order_replace_and_parent_filter(store: SqliteStore) -> None:
    await store.create_integration(_row("a"))
    await store.create_integration(_row("b"))
    await store.put_document("a", "comment", "c3", "T-1", {"text": "third"})
    await store.put_document("a", "comment", "c1", "T-2", {"text": "first"})
    await store.put_document("a", "comment", "c2", "T-1", {"text": "second"})
    await store.put_document("a", "ticket", "T-1", "", {"title": "ticket"})
    await store.put_document("b", "comment", "c9", "T-1", {"text": "other integration"})

    await store.put_document("a", "comment", "c3", "T-1", {"text": "third, edited"})

    assert [d["text"] for d in await store.list_documents("a", "comment")] == [
        "third, edited",
        "first",
        "second",
    ]
    assert [d["text"] for d in await store.list_documents("a", "comment", "T-1")] == [
        "third, edited",
        "second",
    ]
    assert await store.list_documents("a", "comment", "T-9") == []
    assert await store.list_documents("a", "note") == []

    await store.put_document("a", "comment", "c1", "T-1", {"text": "first, moved"})
    assert [d["text"] for d in await store.list_documents("a", "comment", "T-1")] == [
        "third, edited",
        "first, moved",
        "second",
    ]


async def test_document_roundtrip_get_and_delete(store: SqliteStore) -> None:
    await store.create_integration(_row("a"))
    doc = {"title": "Ünïcode", "nested": {"list": [1, 2.5, None, True]}, "empty": ""}
    await store.put_document("a", "ticket", "T-1", "", doc)

    assert await store.get_document("a", "ticket", "T-1") == doc
    assert await store.get_document("a", "comment", "T-1") is None
    assert await store.delete_document("a", "ticket", "T-1")
    assert not await store.delete_document("a", "ticket", "T-1")
    assert await store.get_document("a", "ticket", "T-1") is None


async def test_documents_stored_as_compact_json(store: SqliteStore, db_path: Path) -> None:
    await store.create_integration(_row("a"))
    await store.put_document("a", "ticket", "T-1", "", {"a": 1, "b": [1, 2]})
    assert _raw(db_path, "SELECT doc FROM documents") == [('{"a":1,"b":[1,2]}',)]


async def test_writes_for_unknown_integration_rejected(store: SqliteStore) -> None:
    with pytest.raises(UnknownIntegrationError):
        await store.put_document("ghost", "ticket", "T-1", "", {})
    with pytest.raises(UnknownIntegrationError):
        await store.next_counter("ghost", "ticket")


async def test_counters_atomic_under_concurrency(store: SqliteStore) -> None:
    await store.create_integration(_row("a"))
    await store.create_integration(_row("b"))

    values = await asyncio.gather(*(store.next_counter("a", "ticket") for _ in range(200)))
    assert sorted(values) == list(range(1, 201))

    assert await store.next_counter("a", "comment") == 1
    assert await store.next_counter("b", "ticket") == 1
    assert await store.next_counter("a", "ticket") == 201


async def test_counters_atomic_across_connections(db_path: Path, box: SecretBox) -> None:
    first = await SqliteStore.open(db_path, box)
    second = await SqliteStore.open(db_path, box)
    try:
        await first.create_integration(_row("a"))
        values = await asyncio.gather(
            *(s.next_counter("a", "ticket") for _ in range(50) for s in (first, second))
        )
        assert sorted(values) == list(range(1, 101))
    finally:
        await first.close()
        await second.close()


async def test_migrations_idempotent_on_reopen(db_path: Path, box: SecretBox) -> None:
    for _ in range(3):
        s = await SqliteStore.open(db_path, box)
        await s.close()

    rows = _raw(db_path, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [version for version, _ in rows] == [version for version, _ in sqlite_store.MIGRATIONS]
    applied_at = rows[0][1]
    assert isinstance(applied_at, str)
    assert datetime.fromisoformat(applied_at).utcoffset() == timedelta(0)


async def test_pending_migration_applied_in_order(
    db_path: Path, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await (await SqliteStore.open(db_path, box)).close()
    latest = sqlite_store.MIGRATIONS[-1][0]
    monkeypatch.setattr(
        sqlite_store,
        "MIGRATIONS",
        [
            *sqlite_store.MIGRATIONS,
            (latest + 1, "CREATE TABLE extra (x TEXT); INSERT INTO extra VALUES ('a;b');"),
            (latest + 2, "ALTER TABLE extra ADD COLUMN y INTEGER NOT NULL DEFAULT 7;"),
        ],
    )
    await (await SqliteStore.open(db_path, box)).close()

    assert _raw(db_path, "SELECT version FROM schema_migrations ORDER BY version") == [
        (version,) for version in range(1, latest + 3)
    ]
    assert _raw(db_path, "SELECT x, y FROM extra") == [("a;b", 7)]


async def test_failed_migration_rolled_back(
    db_path: Path, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await (await SqliteStore.open(db_path, box)).close()
    latest = sqlite_store.MIGRATIONS[-1][0]
    monkeypatch.setattr(
        sqlite_store,
        "MIGRATIONS",
        [
            *sqlite_store.MIGRATIONS,
            (latest + 1, "CREATE TABLE extra (x TEXT); SELECT * FROM nope;"),
        ],
    )
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStore.open(db_path, box)

    assert _raw(db_path, "SELECT max(version) FROM schema_migrations") == [(latest,)]
    assert _raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'extra'") == []


async def test_future_schema_version_refused(db_path: Path, box: SecretBox) -> None:
    await (await SqliteStore.open(db_path, box)).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, '2030-01-01T00:00:00+00:00')")
    conn.close()

    with pytest.raises(SchemaVersionError, match="99"):
        await SqliteStore.open(db_path, box)


async def test_data_survives_reopen(db_path: Path, box: SecretBox) -> None:
    s = await SqliteStore.open(db_path, box)
    await s.create_integration(_row("a"))
    await s.put_document("a", "ticket", "T-1", "", {"title": "kept"})
    await s.next_counter("a", "ticket")
    await s.close()

    s = await SqliteStore.open(db_path, box)
    try:
        assert await s.get_integration("a") == _row("a")
        assert await s.list_documents("a", "ticket") == [{"title": "kept"}]
        assert await s.next_counter("a", "ticket") == 2
    finally:
        await s.close()


async def test_wrong_key_cannot_read_config(db_path: Path, box: SecretBox) -> None:
    s = await SqliteStore.open(db_path, box)
    await s.create_integration(_row("a"))
    await s.close()

    s = await SqliteStore.open(db_path, SecretBox(Fernet.generate_key()))
    try:
        with pytest.raises(SecretKeyError) as excinfo:
            await s.get_integration("a")
        assert "PLAINTEXT-MARKER" not in str(excinfo.value)
    finally:
        await s.close()


async def test_closed_store_refuses_work(db_path: Path, box: SecretBox) -> None:
    s = await SqliteStore.open(db_path, box)
    await s.close()
    await s.close()
    with pytest.raises(StoreError, match="closed"):
        await s.list_integrations()
