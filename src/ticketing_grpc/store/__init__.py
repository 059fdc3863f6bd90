"""The store interface: integrations and the embedded mock provider's documents.

Implementations encrypt `IntegrationRow.config` at rest; callers always see plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "DuplicateIntegrationError",
    "IntegrationRow",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "UnknownIntegrationError",
]


class StoreError(Exception):
    """Base of the store's errors; messages never contain secrets or config."""


class SchemaVersionError(StoreError):
    """The database was written by a newer version of the code."""


class DuplicateIntegrationError(StoreError):
    """An integration with that id or token hash already exists."""


class UnknownIntegrationError(StoreError):
    """Documents or counters were written for an integration that does not exist."""


@dataclass(frozen=True)
class IntegrationRow:
    id: str
    provider: str
    token_hash: bytes = field(repr=False)
    config: bytes = field(repr=False)
    """The serialized Integration protobuf, in plaintext; the store encrypts it at rest."""
    created_at: datetime
    updated_at: datetime


class Store(Protocol):
    async def close(self) -> None: ...

    async def create_integration(self, row: IntegrationRow) -> None: ...

    async def get_integration(self, integration_id: str) -> IntegrationRow | None: ...

    async def find_integration_by_token_hash(self, token_hash: bytes) -> IntegrationRow | None: ...

    async def list_integrations(self) -> list[IntegrationRow]:
        """Oldest first (created_at, then id)."""
        ...

    async def update_integration(
        self, integration_id: str, config: bytes, updated_at: datetime
    ) -> bool:
        """False if there is no such integration."""
        ...

    async def delete_integration(self, integration_id: str) -> bool:
        """Also deletes the integration's documents and counters; False if not found."""
        ...

    async def put_document(
        self,
        integration_id: str,
        kind: str,
        doc_id: str,
        parent_id: str,
        doc: Mapping[str, Any],
    ) -> None:
        """Insert or replace; a replaced document keeps its place in list order."""
        ...

    async def get_document(
        self, integration_id: str, kind: str, doc_id: str
    ) -> dict[str, Any] | None: ...

    async def list_documents(
        self, integration_id: str, kind: str, parent_id: str | None = None
    ) -> list[dict[str, Any]]:
        """In order of first insertion, only children of `parent_id` when given."""
        ...

    async def delete_document(self, integration_id: str, kind: str, doc_id: str) -> bool: ...

    async def next_counter(self, integration_id: str, name: str) -> int:
        """1, 2, 3, ... per (integration, name), atomically."""
        ...
