"""The embedded SQLite store.

One connection lives on one dedicated worker thread; every operation is a function of that
connection run there, so the asyncio loop never waits on disk and no locking is needed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ticketing_grpc.secretbox import SecretBox
from ticketing_grpc.store import (
    DuplicateIntegrationError,
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
                f"SELECT {_INTEGRATION_COLUMNS} FROM integrations ORDER BY created_at, id"
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


def _load(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError("stored document is not a JSON object")
    return value
