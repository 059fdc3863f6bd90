"""Integrations: creation, changes, and the per-RPC lookup from token to a
ready provider instance (cached, invalidated on update and delete)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf import field_mask_pb2
from ticketing.v1 import integrations_pb2

from . import provider_configs
from .auth import new_token, same_token, token_hash
from .customfields import CustomFields
from .errors import InvalidArgument, NotFound, NotSupported, Unauthenticated
from .events.sink import EventSink
from .providers.base import Provider, ProviderContext
from .providers.registry import Registry, operators_of
from .redaction import restore_secrets
from .store import IntegrationRow, Store

log = logging.getLogger(__name__)

RETIRE_GRACE = 60.0
"""Seconds a replaced provider instance stays open for the calls still using it."""

OUTPUT_ONLY = frozenset({"id", "provider", "created_at", "updated_at"})


@dataclass
class Handle:
    """One integration as seen by RPCs: its config and its provider instance."""

    id: str
    integration: integrations_pb2.Integration
    provider_cls: type[Provider] | None
    context: ProviderContext
    operators: frozenset[str] = frozenset()
    _provider: Provider | None = field(default=None, repr=False)

    @property
    def provider_id(self) -> str:
        return self.integration.provider

    def provider(self) -> Provider:
        if self.provider_cls is None:
            raise NotSupported(
                f"provider {self.provider_id} is not available in this server build",
                reason="PROVIDER_NOT_AVAILABLE",
                metadata={"provider": self.provider_id},
            )
        if self._provider is None:
            self._provider = self.provider_cls(self.context)
        return self._provider

    async def close(self) -> None:
        if self._provider is not None:
            provider, self._provider = self._provider, None
            await provider.close()


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _decode(row: IntegrationRow) -> integrations_pb2.Integration:
    integration = integrations_pb2.Integration.FromString(row.config)
    integration.id = row.id
    integration.provider = row.provider
    integration.created_at.FromDatetime(row.created_at)
    integration.updated_at.FromDatetime(row.updated_at)
    return integration


class Integrations:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        sink_for: Callable[[integrations_pb2.Integration], EventSink],
        *,
        allow_private: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry
        self.sink_for = sink_for
        self.allow_private = allow_private
        self._by_token: dict[bytes, Handle] = {}
        self._token_of: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def create(
        self, integration: integrations_pb2.Integration
    ) -> tuple[integrations_pb2.Integration, str]:
        rule = provider_configs.validate(integration, allow_private=self.allow_private)
        stored = integrations_pb2.Integration()
        stored.CopyFrom(integration)
        for name in OUTPUT_ONLY:
            stored.ClearField(name)
        token = new_token()
        now = _now()
        row = IntegrationRow(
            id=str(uuid.uuid4()),
            provider=rule.provider_id,
            token_hash=token_hash(token),
            config=stored.SerializeToString(deterministic=True),
            created_at=now,
            updated_at=now,
        )
        await self.store.create_integration(row)
        log.info("integration %s created (provider %s)", row.id, row.provider)
        return _decode(row), token

    async def get(self, integration_id: str) -> integrations_pb2.Integration:
        row = await self.store.get_integration(_check_id(integration_id))
        if row is None:
            raise NotFound(f"integration {integration_id!r} not found")
        return _decode(row)

    async def list(self) -> list[integrations_pb2.Integration]:
        return [_decode(row) for row in await self.store.list_integrations()]

    async def update(
        self, change: integrations_pb2.Integration, paths: Sequence[str]
    ) -> integrations_pb2.Integration:
        current = await self.get(change.id)
        merged = _merge(current, change, paths)
        if provider_configs.config_of(merged)[0] != current.WhichOneof("config"):
            raise InvalidArgument(
                f"the provider of an integration cannot change (it is {current.provider}); "
                "create a new integration instead"
            )
        restore_secrets(merged, current)
        provider_configs.validate(merged, allow_private=self.allow_private)
        for name in OUTPUT_ONLY:
            merged.ClearField(name)
        config = merged.SerializeToString(deterministic=True)
        if not await self.store.update_integration(current.id, config, _now()):
            raise NotFound(f"integration {current.id!r} not found")
        await self._forget(current.id)
        if "*" in paths or "webhooks" in paths:
            await self.store.enable_targets(current.id)
        log.info("integration %s updated (%s)", current.id, ", ".join(paths))
        return await self.get(current.id)

    async def delete(self, integration_id: str) -> None:
        if not await self.store.delete_integration(_check_id(integration_id)):
            raise NotFound(f"integration {integration_id!r} not found")
        await self._forget(integration_id)
        log.info("integration %s deleted", integration_id)

    async def authenticate(self, token: str) -> Handle:
        """The handle of the integration a token belongs to; UNAUTHENTICATED otherwise."""
        digest = token_hash(token)
        handle = self._by_token.get(digest)
        if handle is not None:
            return handle
        async with self._lock:
            handle = self._by_token.get(digest)
            if handle is not None:
                return handle
            row = await self.store.find_integration_by_token_hash(digest)
            if row is None or not same_token(token, row.token_hash):
                raise Unauthenticated("the access token is not valid")
            handle = self._handle(_decode(row))
            self._by_token[digest] = handle
            self._token_of[row.id] = digest
            return handle

    def _handle(self, integration: integrations_pb2.Integration) -> Handle:
        context = ProviderContext(
            integration_id=integration.id,
            integration=integration,
            custom_fields=CustomFields.from_mappings(integration.custom_field_mappings),
            store=self.store,
            events=self.sink_for(integration),
            allow_private_urls=self.allow_private,
        )
        cls = self.registry.get(integration.provider)
        operators = frozenset(operators_of(cls)) if cls else frozenset()
        return Handle(integration.id, integration, cls, context, operators)

    async def _forget(self, integration_id: str) -> None:
        # Under the lock: a lookup that read the row before the change was stored must
        # not cache its stale handle after we have forgotten the integration.
        async with self._lock:
            digest = self._token_of.pop(integration_id, None)
            handle = self._by_token.pop(digest, None) if digest is not None else None
        if handle is not None:
            self._retire(handle)

    def _retire(self, handle: Handle) -> None:
        """Close a replaced handle once calls still using it have had time to finish:
        closing its HTTP session at once would break them mid-request."""

        async def close_later() -> None:
            try:
                await asyncio.sleep(RETIRE_GRACE)
            finally:
                await handle.close()

        task = asyncio.create_task(close_later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        handles = list(self._by_token.values())
        self._by_token.clear()
        self._token_of.clear()
        for handle in handles:
            await handle.close()
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)


async def signing_secret(store: Store, integration_id: str, target_url: str) -> str | None:
    """The signing secret of one of an integration's webhook targets, if it has one."""
    row = await store.get_integration(integration_id)
    if row is None:
        return None
    hooks = integrations_pb2.Integration.FromString(row.config).webhooks
    return next((h.signing_secret for h in hooks if h.webhook_url == target_url), None) or None


def _check_id(integration_id: str) -> str:
    if not integration_id:
        raise InvalidArgument("integration_id is required")
    return integration_id


def _merge(
    current: integrations_pb2.Integration,
    change: integrations_pb2.Integration,
    paths: Sequence[str],
) -> integrations_pb2.Integration:
    if not paths:
        raise InvalidArgument("update_mask is required (use '*' to replace everything)")
    merged = integrations_pb2.Integration()
    if list(paths) == ["*"]:
        merged.CopyFrom(change)
        return merged
    if "*" in paths:
        raise InvalidArgument("update_mask '*' cannot be combined with other paths")
    bad = [p for p in paths if p.split(".", 1)[0] in OUTPUT_ONLY]
    if bad:
        raise InvalidArgument(f"update_mask path {bad[0]!r} is output only")
    mask = field_mask_pb2.FieldMask(paths=list(paths))
    if not mask.IsValidForDescriptor(integrations_pb2.Integration.DESCRIPTOR):  # type: ignore[arg-type]
        raise InvalidArgument(f"update_mask has a path Integration does not have: {list(paths)}")
    merged.CopyFrom(current)
    mask.MergeMessage(change, merged, replace_message_field=True, replace_repeated_field=True)
    return merged
