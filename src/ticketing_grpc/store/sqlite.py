"""The embedded SQLite store.

One connection lives on one dedicated worker thread; every operation is a function of that
connection run there, so the asyncio loop never waits on disk and no locking is needed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ticketing_grpc.secretbox import SecretBox
from ticketing_grpc.store import (
    Delivery,
    DuplicateIntegrationError,
    EventRecord,
    IntegrationRow,
    SchemaVersionError,
    StoreError,
    UnknownIntegrationError,
)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE integrations (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            token_hash BLOB NOT NULL,
            config BLOB NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX integrations_token_hash ON integrations (token_hash);

        CREATE TABLE documents (
            seq INTEGER PRIMARY KEY,
            integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            parent_id TEXT NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (integration_id, kind, doc_id)
        );
        CREATE INDEX documents_parent ON documents (integration_id, kind, parent_id);

        CREATE TABLE counters (
            integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (integration_id, name)
        ) WITHOUT ROWID;
        """,
    ),
    (
        2,
        """
        -- AUTOINCREMENT: a sequence is never reused, even after its event was pruned.
        CREATE TABLE events (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            event_type INTEGER NOT NULL,
            ticket_id TEXT NOT NULL,
            entity_date TEXT NOT NULL,
            priority INTEGER NOT NULL,
            short_description TEXT NOT NULL,
            raw_payload BLOB NOT NULL,
            received_at TEXT NOT NULL,
            dedup_key TEXT
        );
        CREATE UNIQUE INDEX events_dedup ON events (integration_id, dedup_key);
        CREATE INDEX events_integration ON events (integration_id, sequence);
        CREATE INDEX events_received ON events (received_at);

        -- AUTOINCREMENT: a worker still holding the id of a delivery that was deleted
        -- (its integration removed, its lease taken over) never hits a newer delivery.
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            event_sequence INTEGER NOT NULL REFERENCES events (sequence) ON DELETE CASCADE,
            target_url TEXT NOT NULL,
            webhook_id TEXT NOT NULL UNIQUE,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('pending', 'abandoned')),
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_error TEXT
        );
        CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
        CREATE INDEX deliveries_event ON deliveries (event_sequence);
        CREATE INDEX deliveries_target ON deliveries (integration_id, target_url, state);

        CREATE TABLE disabled_targets (
            integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            target_url TEXT NOT NULL,
            reason TEXT NOT NULL,
            disabled_at TEXT NOT NULL,
            PRIMARY KEY (integration_id, target_url)
        ) WITHOUT ROWID;
        """,
    ),
]
"""Ordered (version, SQL) pairs; append new versions, never edit applied ones."""


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _statements(sql: str) -> list[str]:
    """Splits a script into statements (executescript would commit the open transaction)."""
    statements: list[str] = []
    pending = ""
    for part in sql.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError("migration SQL ends with an incomplete statement")
    return statements


def _migrate(conn: sqlite3.Connection, migrations: list[tuple[int, str]]) -> None:
    versions = [version for version, _ in migrations]
    if versions != sorted(set(versions)):
        # Two changes that each appended "the next" version would otherwise skip one.
        raise ValueError(f"migration versions must be unique and ascending: {versions}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    known = max((version for version, _ in migrations), default=0)
    (current,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    if current > known:
        raise SchemaVersionError(
            f"database schema version {current} is newer than this code supports ({known}); "
            "run a newer ticketing-grpc or restore a matching backup"
        )
    for version, sql in migrations:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the write lock.
            applied = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if applied is None:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, _timestamp(datetime.now(UTC))),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that holds the write lock from its start, so that what it
    reads cannot be changed by another connection before it commits."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; writes that need one say BEGIN.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn, MIGRATIONS)
    except BaseException:
        conn.close()
        raise
    return conn


_INTEGRATION_COLUMNS = "id, provider, token_hash, config, created_at, updated_at"
_EVENT_COLUMNS = (
    "sequence, id, integration_id, event_type, ticket_id, entity_date, priority,"
    " short_description, raw_payload, received_at"
)
_DELIVERY_COLUMNS = (
    "id, integration_id, event_sequence, target_url, webhook_id, attempts, created_at"
)
_DELIVERY_STATES = frozenset({"pending", "abandoned"})


class SqliteStore:
    def __init__(
        self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, box: SecretBox
    ) -> None:
        """Use `SqliteStore.open`."""
        self._conn = conn
        self._executor = executor
        self._box = box
        self._closed = False

    @classmethod
    async def open(cls, path: Path, box: SecretBox) -> SqliteStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor, box)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, self._conn)

    async def close(self) -> None:
        """Waits for the work already queued, then closes the connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    def _row(self, record: tuple[Any, ...] | None) -> IntegrationRow | None:
        if record is None:
            return None
        id_, provider, token_hash, config, created_at, updated_at = record
        return IntegrationRow(
            id=id_,
            provider=provider,
            token_hash=bytes(token_hash),
            config=self._box.decrypt(bytes(config)),
            created_at=datetime.fromisoformat(created_at),
            updated_at=datetime.fromisoformat(updated_at),
        )

    async def create_integration(self, row: IntegrationRow) -> None:
        values = (
            row.id,
            row.provider,
            row.token_hash,
            self._box.encrypt(row.config),
            _timestamp(row.created_at),
            _timestamp(row.updated_at),
        )

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO integrations ({_INTEGRATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )
            except sqlite3.IntegrityError:
                raise DuplicateIntegrationError(
                    f"integration {row.id!r} or its token hash already exists"
                ) from None

        await self._run(work)

    async def get_integration(self, integration_id: str) -> IntegrationRow | None:
        def work(conn: sqlite3.Connection) -> IntegrationRow | None:
            return self._row(
                conn.execute(
                    f"SELECT {_INTEGRATION_COLUMNS} FROM integrations WHERE id = ?",
                    (integration_id,),
                ).fetchone()
            )

        return await self._run(work)

    async def find_integration_by_token_hash(self, token_hash: bytes) -> IntegrationRow | None:
        def work(conn: sqlite3.Connection) -> IntegrationRow | None:
            return self._row(
                conn.execute(
                    f"SELECT {_INTEGRATION_COLUMNS} FROM integrations WHERE token_hash = ?",
                    (token_hash,),
                ).fetchone()
            )

        return await self._run(work)

    async def list_integrations(self) -> list[IntegrationRow]:
        def work(conn: sqlite3.Connection) -> list[IntegrationRow]:
            records = conn.execute(
                f"SELECT {_INTEGRATION_COLUMNS} FROM integrations ORDER BY rowid"
            ).fetchall()
            return [row for row in map(self._row, records) if row is not None]

        return await self._run(work)

    async def update_integration(
        self, integration_id: str, config: bytes, updated_at: datetime
    ) -> bool:
        values = (self._box.encrypt(config), _timestamp(updated_at), integration_id)

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE integrations SET config = ?, updated_at = ? WHERE id = ?", values
            )
            return cursor.rowcount > 0

        return await self._run(work)

    async def delete_integration(self, integration_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("DELETE FROM integrations WHERE id = ?", (integration_id,))
            return cursor.rowcount > 0

        return await self._run(work)

    async def put_document(
        self,
        integration_id: str,
        kind: str,
        doc_id: str,
        parent_id: str,
        doc: Mapping[str, Any],
    ) -> None:
        text = json.dumps(dict(doc), separators=(",", ":"))

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO documents (integration_id, kind, doc_id, parent_id, doc)"
                    " VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (integration_id, kind, doc_id)"
                    " DO UPDATE SET parent_id = excluded.parent_id, doc = excluded.doc",
                    (integration_id, kind, doc_id, parent_id, text),
                )
            except sqlite3.IntegrityError:
                raise UnknownIntegrationError(
                    f"integration {integration_id!r} does not exist"
                ) from None

        await self._run(work)

    async def get_document(
        self, integration_id: str, kind: str, doc_id: str
    ) -> dict[str, Any] | None:
        def work(conn: sqlite3.Connection) -> dict[str, Any] | None:
            record = conn.execute(
                "SELECT doc FROM documents WHERE integration_id = ? AND kind = ? AND doc_id = ?",
                (integration_id, kind, doc_id),
            ).fetchone()
            return None if record is None else _load(record[0])

        return await self._run(work)

    async def list_documents(
        self, integration_id: str, kind: str, parent_id: str | None = None
    ) -> list[dict[str, Any]]:
        sql = "SELECT doc FROM documents WHERE integration_id = ? AND kind = ?"
        params: tuple[str, ...] = (integration_id, kind)
        if parent_id is not None:
            sql += " AND parent_id = ?"
            params += (parent_id,)
        sql += " ORDER BY seq"

        def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return [_load(text) for (text,) in conn.execute(sql, params)]

        return await self._run(work)

    async def delete_document(self, integration_id: str, kind: str, doc_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM documents WHERE integration_id = ? AND kind = ? AND doc_id = ?",
                (integration_id, kind, doc_id),
            )
            return cursor.rowcount > 0

        return await self._run(work)

    async def next_counter(self, integration_id: str, name: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            try:
                # fetchall: a RETURNING statement only completes once all its rows are read.
                ((value,),) = conn.execute(
                    "INSERT INTO counters (integration_id, name, value) VALUES (?, ?, 1)"
                    " ON CONFLICT (integration_id, name) DO UPDATE SET value = value + 1"
                    " RETURNING value",
                    (integration_id, name),
                ).fetchall()
            except sqlite3.IntegrityError:
                raise UnknownIntegrationError(
                    f"integration {integration_id!r} does not exist"
                ) from None
            return int(value)

        return await self._run(work)

    # The event log and the outbox of webhook deliveries.

    async def append_event(
        self, event: EventRecord, *, dedup_key: str | None = None, targets: Sequence[str] = ()
    ) -> EventRecord | None:
        if isinstance(targets, str):
            raise TypeError("targets must be a sequence of URLs, not one URL")
        received_at = _timestamp(event.received_at)
        urls = list(dict.fromkeys(targets))
        values = (
            event.id,
            event.integration_id,
            event.event_type,
            event.ticket_id,
            event.entity_date,
            event.priority,
            event.short_description,
            bytes(event.raw_payload),
            received_at,
            dedup_key,
        )

        def work(conn: sqlite3.Connection) -> int | None:
            with _immediate(conn):
                # Checked rather than left to the foreign key: that IntegrityError would
                # look like the one for a duplicate event id.
                if not _integration_exists(conn, event.integration_id):
                    raise UnknownIntegrationError(
                        f"integration {event.integration_id!r} does not exist"
                    )
                if dedup_key is not None:
                    seen = conn.execute(
                        "SELECT 1 FROM events WHERE integration_id = ? AND dedup_key = ?",
                        (event.integration_id, dedup_key),
                    ).fetchone()
                    if seen is not None:
                        return None
                try:
                    # fetchall: a RETURNING statement only completes once all its rows are read.
                    ((sequence,),) = conn.execute(
                        "INSERT INTO events (id, integration_id, event_type, ticket_id,"
                        " entity_date, priority, short_description, raw_payload, received_at,"
                        " dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING sequence",
                        values,
                    ).fetchall()
                except sqlite3.IntegrityError:
                    # The only constraint left once the integration and dedup key were checked.
                    raise StoreError(f"event id {event.id!r} already exists") from None
                disabled = {
                    url
                    for (url,) in conn.execute(
                        "SELECT target_url FROM disabled_targets WHERE integration_id = ?",
                        (event.integration_id,),
                    )
                }
                conn.executemany(
                    "INSERT INTO deliveries (integration_id, event_sequence, target_url,"
                    " webhook_id, attempts, state, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, 0, 'pending', ?, ?)",
                    [
                        (
                            event.integration_id,
                            sequence,
                            url,
                            _webhook_id(),
                            received_at,
                            received_at,
                        )
                        for url in urls
                        if url not in disabled
                    ],
                )
                return int(sequence)

        sequence = await self._run(work)
        return None if sequence is None else replace(event, sequence=sequence)

    async def read_events(
        self, integration_id: str, after_sequence: int, limit: int
    ) -> list[EventRecord]:
        if limit <= 0:  # SQLite reads a negative LIMIT as "no limit"
            return []

        def work(conn: sqlite3.Connection) -> list[EventRecord]:
            return [
                _event(record)
                for record in conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM events"
                    " WHERE integration_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
                    (integration_id, after_sequence, limit),
                )
            ]

        return await self._run(work)

    async def get_event(self, sequence: int) -> EventRecord | None:
        def work(conn: sqlite3.Connection) -> EventRecord | None:
            record = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE sequence = ?", (sequence,)
            ).fetchone()
            return None if record is None else _event(record)

        return await self._run(work)

    async def prune_events(self, before: datetime) -> int:
        cutoff = _timestamp(before)

        def work(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                conn.execute(
                    "DELETE FROM deliveries WHERE state = 'abandoned' AND created_at < ?",
                    (cutoff,),
                )
                # Abandoned deliveries of a deleted event go with it (ON DELETE CASCADE).
                cursor = conn.execute(
                    "DELETE FROM events WHERE received_at < ? AND NOT EXISTS"
                    " (SELECT 1 FROM deliveries WHERE event_sequence = events.sequence"
                    " AND state = 'pending')",
                    (cutoff,),
                )
                return cursor.rowcount

        return await self._run(work)

    async def claim_deliveries(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Collection[tuple[str, str]] = (),
    ) -> list[Delivery]:
        due, leased = _timestamp(now), _timestamp(lease_until)
        if lease_until <= now:
            raise ValueError("lease_until must be later than now")
        if limit <= 0:
            return []
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"
            " WHERE state = 'pending' AND next_attempt_at <= ?"
        )
        params: tuple[object, ...] = (due,)
        if busy:
            # One JSON parameter however many pairs are busy (no bound-variable limit).
            sql += (
                " AND (integration_id, target_url) NOT IN (SELECT json_extract(value, '$[0]'),"
                " json_extract(value, '$[1]') FROM json_each(?))"
            )
            params += (json.dumps([[integration, url] for integration, url in busy]),)
        sql += " ORDER BY next_attempt_at, id LIMIT ?"
        params += (limit,)

        def work(conn: sqlite3.Connection) -> list[Delivery]:
            with _immediate(conn):
                claimed = [_delivery(record) for record in conn.execute(sql, params)]
                conn.executemany(
                    "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?",
                    [(leased, delivery.id) for delivery in claimed],
                )
                return claimed

        return await self._run(work)

    async def complete_delivery(self, delivery_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

        await self._run(work)

    async def reschedule_delivery(
        self, delivery_id: int, next_attempt_at: datetime, error: str
    ) -> None:
        values = (_timestamp(next_attempt_at), error, delivery_id)

        def work(conn: sqlite3.Connection) -> None:
            # Only a pending one: an attempt that ends after its target was disabled
            # must not bring the abandoned delivery back.
            conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE id = ? AND state = 'pending'",
                values,
            )

        await self._run(work)

    async def abandon_delivery(self, delivery_id: int, error: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET state = 'abandoned', last_error = ?"
                " WHERE id = ? AND state = 'pending'",
                (error, delivery_id),
            )

        await self._run(work)

    async def disable_target(self, integration_id: str, target_url: str, reason: str) -> int:
        disabled_at = _timestamp(datetime.now(UTC))

        def work(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                if not _integration_exists(conn, integration_id):
                    raise UnknownIntegrationError(f"integration {integration_id!r} does not exist")
                conn.execute(
                    "INSERT INTO disabled_targets (integration_id, target_url, reason, disabled_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (integration_id, target_url) DO NOTHING",
                    (integration_id, target_url, reason, disabled_at),
                )
                cursor = conn.execute(
                    "UPDATE deliveries SET state = 'abandoned', last_error = ?"
                    " WHERE integration_id = ? AND target_url = ? AND state = 'pending'",
                    (reason, integration_id, target_url),
                )
                return cursor.rowcount

        return await self._run(work)

    async def enable_targets(self, integration_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM disabled_targets WHERE integration_id = ?", (integration_id,))

        await self._run(work)

    async def count_deliveries(self, integration_id: str, state: str = "pending") -> int:
        if state not in _DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}")

        def work(conn: sqlite3.Connection) -> int:
            ((count,),) = conn.execute(
                "SELECT count(*) FROM deliveries WHERE integration_id = ? AND state = ?",
                (integration_id, state),
            ).fetchall()
            return int(count)

        return await self._run(work)


def _integration_exists(conn: sqlite3.Connection, integration_id: str) -> bool:
    found = conn.execute("SELECT 1 FROM integrations WHERE id = ?", (integration_id,))
    return found.fetchone() is not None


def _webhook_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _event(record: tuple[Any, ...]) -> EventRecord:
    (
        sequence,
        id_,
        integration_id,
        event_type,
        ticket_id,
        entity_date,
        priority,
        short_description,
        raw_payload,
        received_at,
    ) = record
    return EventRecord(
        id=id_,
        integration_id=integration_id,
        event_type=event_type,
        ticket_id=ticket_id,
        entity_date=entity_date,
        priority=priority,
        short_description=short_description,
        raw_payload=bytes(raw_payload),
        received_at=datetime.fromisoformat(received_at),
        sequence=sequence,
    )


def _delivery(record: tuple[Any, ...]) -> Delivery:
    id_, integration_id, event_sequence, target_url, webhook_id, attempts, created_at = record
    return Delivery(
        id=id_,
        integration_id=integration_id,
        event_sequence=event_sequence,
        target_url=target_url,
        webhook_id=webhook_id,
        attempts=attempts,
        created_at=datetime.fromisoformat(created_at),
    )


def _load(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError("stored document is not a JSON object")
    return value
