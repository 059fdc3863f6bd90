"""The outbox worker: POSTs logged events to the integrations' webhook targets.

Deliveries are rows of the store's outbox, written in the same transaction as
the event (`Store.append_event`). The Forwarder leases due deliveries
(`claim_deliveries`), POSTs the event's JSON with Standard Webhooks headers and
records the outcome:

- 2xx: completed (removed from the outbox);
- 410 Gone: the delivery is abandoned and the target disabled;
- anything else (other statuses, timeouts, connection errors, refused private
  addresses): retried with exponential backoff and jitter, honouring a 429/503
  `Retry-After`, until the delivery is older than `give_up_after`, then abandoned.

At-least-once: an attempt interrupted by `stop()` or a crash keeps its lease
until it expires and is then claimed again; receivers deduplicate on
`webhook-id`, which is stable across the retries of one delivery.

Each (integration, target URL) has at most `per_target` attempts in flight, so
a slow or failing target cannot take all `concurrency` slots or delay others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from ..guarded_resolver import GuardedResolver, PrivateAddressError, check_literal_host
from ..store import Delivery, EventRecord
from . import signing
from .payload import outbound_body

__all__ = ["DeliverySettings", "Forwarder", "OutboxStore", "SecretLookup"]

log = logging.getLogger(__name__)

SecretLookup = Callable[[str, str], Awaitable[str | None]]
"""(integration_id, target_url) -> the target's signing_secret, or None."""

_MAX_ERROR = 300
"""Recorded error texts are cut to this many characters."""


@dataclass(frozen=True)
class DeliverySettings:
    timeout: float = 15.0
    """Seconds for one attempt: connecting, sending and receiving the response headers."""
    backoff_base: float = 1.0
    """The first retry comes after base * [0.5, 1.0] seconds, then doubling."""
    backoff_cap: float = 300.0
    give_up_after: float = 86400.0
    """A delivery that fails when older than this (seconds since created_at) is abandoned."""
    concurrency: int = 16
    per_target: int = 2
    poll_interval: float = 1.0
    lease: float = 60.0
    """Seconds a claimed delivery is reserved for its attempt; must exceed `timeout`."""


class OutboxStore(Protocol):
    """The part of `store.Store` the Forwarder uses (any Store satisfies it)."""

    async def get_event(self, sequence: int) -> EventRecord | None: ...

    async def claim_deliveries(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Collection[tuple[str, str]] = (),
    ) -> list[Delivery]: ...

    async def complete_delivery(self, delivery_id: int) -> None: ...

    async def reschedule_delivery(
        self, delivery_id: int, next_attempt_at: datetime, error: str
    ) -> None: ...

    async def abandon_delivery(self, delivery_id: int, error: str) -> None: ...

    async def disable_target(self, integration_id: str, target_url: str, reason: str) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


_Target = tuple[str, str]


class Forwarder:
    def __init__(
        self,
        store: OutboxStore,
        secrets: SecretLookup,
        settings: DeliverySettings = DeliverySettings(),
        *,
        allow_private: bool = False,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if settings.concurrency < 1 or settings.per_target < 1:
            raise ValueError("concurrency and per_target must be at least 1")
        if settings.timeout <= 0 or settings.poll_interval <= 0:
            raise ValueError("timeout and poll_interval must be positive")
        if settings.lease <= settings.timeout:
            raise ValueError("lease must be longer than timeout")
        self._store = store
        self._secrets = secrets
        self._settings = settings
        self._allow_private = allow_private
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._in_flight: dict[_Target, int] = {}
        self._interrupted: list[Delivery] = []
        self._wake = asyncio.Event()
        self._claiming = asyncio.Lock()
        self._stopping = False

    @property
    def settings(self) -> DeliverySettings:
        return self._settings

    async def start(self) -> None:
        """Open the HTTP session and start the background loop (idempotent)."""
        if self._loop_task is not None:
            return
        self._stopping = False
        self._ensure_session()
        self._loop_task = asyncio.create_task(self._run(), name="webhook-forwarder")

    def wake(self) -> None:
        """New deliveries were appended: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, cancel in-flight attempts, close the session.

        Cancelled attempts are put back as due at once (counted as a failed
        attempt), so the next start retries them without waiting for a lease.
        """
        self._stopping = True
        tasks: list[asyncio.Task[None]] = list(self._attempts)
        if self._loop_task is not None:
            tasks.append(self._loop_task)
            self._loop_task = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        interrupted, self._interrupted = self._interrupted, []
        for delivery in interrupted:
            try:
                await self._store.reschedule_delivery(
                    delivery.id, self._clock(), "interrupted by shutdown"
                )
            except Exception:
                log.warning("webhook delivery %d: its lease stays until it expires", delivery.id)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def run_once(self) -> int:
        """Claim the due deliveries there is room for and run them to completion.

        Returns how many were attempted. Meant for tests and tools; `start()`
        runs the same steps continuously.
        """
        self._ensure_session()
        started = await self._claim_and_start()
        if started:
            await asyncio.wait(started)
        return len(started)

    # -- the loop ----------------------------------------------------------------

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._resolver = GuardedResolver(allow_private=self._allow_private)
            connector = aiohttp.TCPConnector(
                resolver=self._resolver, limit=self._settings.concurrency
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
                # Targets are unrelated to each other: keep no cookies, ignore proxy env.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._claim_and_start()
            except Exception as exc:  # the store is unavailable: try again at the next poll
                log.warning("claiming webhook deliveries failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval):
                    await self._wake.wait()

    async def _claim_and_start(self) -> Sequence[asyncio.Task[None]]:
        """Lease due deliveries up to the free capacity and start their attempts.

        A claim may return several deliveries for one target, so each claim asks
        for no more than the least room any not-busy target has left: no target
        ever gets more than `per_target` attempts in flight, and nothing is
        leased that cannot start at once.
        """
        settings = self._settings
        started: list[asyncio.Task[None]] = []
        async with self._claiming:
            while not self._stopping:
                free = settings.concurrency - len(self._attempts)
                if free <= 0:
                    break
                busy = [key for key, n in self._in_flight.items() if n >= settings.per_target]
                room = [settings.per_target - n for n in self._in_flight.values()]
                limit = min(free, min((r for r in room if r > 0), default=settings.per_target))
                now = self._clock()
                lease_until = now + timedelta(seconds=settings.lease)
                claimed = await self._store.claim_deliveries(now, lease_until, limit, busy)
                started.extend(self._start_attempt(delivery) for delivery in claimed)
                if len(claimed) < limit:
                    break
        return started

    def _start_attempt(self, delivery: Delivery) -> asyncio.Task[None]:
        key = (delivery.integration_id, delivery.target_url)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        task = asyncio.create_task(self._attempt(delivery), name=f"webhook-delivery-{delivery.id}")
        self._attempts.add(task)
        task.add_done_callback(partial(self._attempt_done, key))
        return task

    def _attempt_done(self, key: _Target, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        remaining = self._in_flight.get(key, 0) - 1
        if remaining > 0:
            self._in_flight[key] = remaining
        else:
            self._in_flight.pop(key, None)
        if not self._stopping:
            self._wake.set()  # a slot is free: the target's next delivery may be due

    # -- one attempt -------------------------------------------------------------

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            await self._deliver(delivery)
        except asyncio.CancelledError:
            self._interrupted.append(delivery)
            raise
        except Exception as exc:
            # Recording the outcome failed; the lease expires and it is tried again.
            log.warning(
                "webhook delivery %d to %s: could not record the outcome: %s",
                delivery.id,
                _host(delivery.target_url),
                _describe(exc, self._settings.timeout),
            )

    async def _deliver(self, delivery: Delivery) -> None:
        store = self._store
        host = _host(delivery.target_url)
        event = await store.get_event(delivery.event_sequence)
        if event is None:
            await store.abandon_delivery(delivery.id, "the event is no longer in the log")
            log.info(
                "webhook delivery %d to %s abandoned: event %d is no longer in the log",
                delivery.id,
                host,
                delivery.event_sequence,
            )
            return
        try:
            status, retry_after = await self._post(delivery, event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(delivery, _describe(exc, self._settings.timeout), None)
            return
        if 200 <= status < 300:
            await store.complete_delivery(delivery.id)
            log.debug(
                "webhook delivery %d to %s: HTTP %d after %d failed attempts",
                delivery.id,
                host,
                status,
                delivery.attempts,
            )
        elif status == 410:
            reason = "the target answered HTTP 410 Gone"
            await store.abandon_delivery(delivery.id, reason)
            abandoned = await store.disable_target(
                delivery.integration_id, delivery.target_url, reason
            )
            log.info(
                "webhook target %s of integration %s answered 410 Gone: disabled,"
                " %d pending deliveries abandoned",
                host,
                delivery.integration_id,
                abandoned,
            )
        else:
            honoured = retry_after if status in (429, 503) else None
            await self._failed(delivery, f"HTTP {status}", honoured)

    async def _post(self, delivery: Delivery, event: EventRecord) -> tuple[int, str | None]:
        session = self._ensure_session()
        url = URL(delivery.target_url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError("the target is not an absolute http(s) URL")
        # aiohttp does not ask the resolver about literal addresses: check them here.
        check_literal_host(url.raw_host, allow_private=self._allow_private)
        body = outbound_body(event)
        secret = await self._secrets(delivery.integration_id, delivery.target_url)
        timestamp = int(self._clock().timestamp())
        headers = signing.headers(secret, delivery.webhook_id, timestamp, body)
        log.debug(
            "webhook delivery %d (event %d) to %s: attempt %d",
            delivery.id,
            delivery.event_sequence,
            url.host,
            delivery.attempts + 1,
        )
        # No redirects: a redirect to a literal private address would bypass the checks.
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Retry-After")

    async def _failed(self, delivery: Delivery, error: str, retry_after: str | None) -> None:
        settings = self._settings
        now = self._clock()
        age = (now - _aware(delivery.created_at)).total_seconds()
        error = error[:_MAX_ERROR]
        host = _host(delivery.target_url)
        if age > settings.give_up_after:
            await self._store.abandon_delivery(delivery.id, error)
            log.info(
                "webhook delivery %d (event %d) to %s abandoned after %d attempts over %.0fs: %s",
                delivery.id,
                delivery.event_sequence,
                host,
                delivery.attempts + 1,
                age,
                error,
            )
            return
        delay = self._backoff(delivery.attempts)
        requested = _parse_retry_after(retry_after, now) if retry_after else None
        if requested is not None:
            # The target's own schedule, but not beyond the give-up horizon and not
            # so soon that a `Retry-After: 0` loop hammers it.
            horizon = settings.give_up_after - age
            delay = max(min(requested, horizon), settings.backoff_base / 2)
        next_attempt_at = now + timedelta(seconds=delay)
        await self._store.reschedule_delivery(delivery.id, next_attempt_at, error)
        log.debug(
            "webhook delivery %d to %s failed (%s); retry in %.1fs",
            delivery.id,
            host,
            error,
            delay,
        )

    def _backoff(self, failed_attempts: int) -> float:
        """base * 2**attempts, capped, times a jitter in [0.5, 1.0]."""
        settings = self._settings
        exponential = settings.backoff_base * 2.0 ** min(failed_attempts, 64)
        return min(settings.backoff_cap, exponential) * random.uniform(0.5, 1.0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _host(url: str) -> str:
    """For logs: the target's host only (paths and queries may carry tokens)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (_aware(when) - _aware(now)).total_seconds())


def _describe(exc: BaseException, timeout: float) -> str:
    """A short error text: never a secret, never a body."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, PrivateAddressError
    ):
        exc = exc.os_error
    if isinstance(exc, PrivateAddressError):
        return f"refused: {exc.strerror}"
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:_MAX_ERROR]
