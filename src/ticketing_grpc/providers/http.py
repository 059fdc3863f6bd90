"""The REST layer every provider plugin reuses.

One `ProviderHTTP` per integration: a pooled aiohttp session created on first
use (closed by `close()`, which the plugin's own `close()` calls when the
integration is updated or deleted and at shutdown), an `Auth` piece that
supplies the credential headers, and one request path that

- bounds every call by the RPC's deadline (`ticketing_grpc.deadline`) and by
  `timeout`; cancelling the RPC cancels the HTTP request (nothing is shielded);
- retries 429 and 502/503/504, and connection failures, with jittered
  exponential backoff or the provider's `Retry-After`, but never past the
  deadline: when the next attempt could not start in time it stops and raises
  the mapped error with `retry_after` (gRPC RetryInfo);
- on a 401 drops the cached token (`Auth.invalidate`) and retries once, when
  that gives different credentials (an OAuth2 token; not basic auth);
- maps every failure to the exception tree (`error_for_status`), with the
  provider's own error text in the message and every secret scrubbed from it;
- refuses URLs on loopback/private addresses unless `allow_private`
  (literal hosts are checked before each request, names by `GuardedResolver`
  at connection time), and follows redirects itself so every hop is checked.

What is retried:
- a connection that could not be made (nothing was sent): any replayable request;
- any other network failure: idempotent requests only (GET, HEAD, PUT, DELETE,
  OPTIONS, or `idempotent=True`);
- a status in `RetryPolicy.statuses`: idempotent requests; a non-idempotent one
  (POST, PATCH) only on 429, or 503 with Retry-After, where the provider says
  it did not act on the request (a 502/504 may come after the backend did);
- never a request whose body cannot be sent twice (an aiohttp FormData, a
  payload streaming from a file or async generator), unless the caller says
  `idempotent=True` and so vouches that it can be;
- never a timeout (it maps to DeadlineExceeded at once).

Status mapping (`error_for_status`), reason in brackets, metadata always
{"provider": id, "http_status": "<status>"}:
400 InvalidArgument [PROVIDER_INVALID_ARGUMENT], 401 Unauthenticated
[PROVIDER_UNAUTHENTICATED], 403 PermissionDenied [PROVIDER_PERMISSION_DENIED],
404 NotFound [PROVIDER_NOT_FOUND], 408 Unavailable [PROVIDER_TIMEOUT], 409 and
412 Conflict [PROVIDER_CONFLICT, PROVIDER_PRECONDITION_FAILED], 410
NotSupported [PROVIDER_GONE], 413 InvalidArgument [PROVIDER_PAYLOAD_TOO_LARGE],
422 InvalidArgument [PROVIDER_UNPROCESSABLE], 429 RateLimited
[PROVIDER_RATE_LIMITED], other 4xx InvalidArgument [PROVIDER_REJECTED], 5xx
Unavailable [PROVIDER_UNAVAILABLE]; network failures Unavailable
[PROVIDER_UNREACHABLE, PROVIDER_TLS_ERROR], timeouts DeadlineExceeded
[PROVIDER_TIMEOUT], a refused private URL InvalidArgument [PROVIDER_URL_REFUSED].

410 Gone: providers answer it for an endpoint that was removed (Jira's retired
search API, for instance), not for a deleted ticket (those are 404s). The
request can never succeed however it is retried or reworded, so it is neither
NOT_FOUND (the caller's object may well exist) nor INVALID_ARGUMENT (the
caller's input is not at fault): it maps to UNIMPLEMENTED, like an operator
the provider does not offer.

Logging: one DEBUG line per HTTP exchange (provider, method, path without the
query, status, elapsed time, attempt); never headers or bodies.

The auth schemes are in http_auth, the status mapping, Retry-After parsing and
secret scrubbing in http_errors; this module re-exports their public names.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from .. import deadline
from ..errors import DeadlineExceeded, InvalidArgument, TicketingError, Unavailable
from ..guarded_resolver import GuardedResolver, PrivateAddressError, check_literal_host
from .http_auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    auth_from_credential,
)
from .http_errors import _scrubber, body_excerpt, error_for_status, parse_retry_after

__all__ = [
    "IDEMPOTENT_METHODS",
    "OK",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "HeaderAuth",
    "OAuth2ClientCredentials",
    "ProviderHTTP",
    "Response",
    "RetryPolicy",
    "auth_from_credential",
    "body_excerpt",
    "error_for_status",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

OK = range(200, 300)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
_MIN_ATTEMPT = 0.05
"""An attempt is not started with less time than this left before the deadline."""
_ERROR_BODY_LIMIT = 64 * 1024
"""How much of an error body is read and scrubbed."""
_TEXT_LIMIT = 1000
"""The longest provider text kept in an error message."""


# -- requests and responses ------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (see the module docstring for what)."""

    attempts: int = 4
    """Attempts in all, the first included."""
    base: float = 0.5
    cap: float = 8.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    max_retry_after: float = 30.0
    """A longer Retry-After is not waited for: the error goes to the caller with it."""

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1-based): equal jitter."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def honour(self, retry_after: float) -> float:
        """The wait for a Retry-After: at least that, plus up to 10% jitter."""
        return max(retry_after, self.base / 2) * random.uniform(1.0, 1.1)


DEFAULT_RETRY = RetryPolicy()


@dataclass
class Response:
    """A provider's answer, body read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str
    provider: str = ""

    def json(self) -> Any:
        """The body as JSON (None when empty); Unavailable when it is not JSON."""
        if not self.body.strip():
            return None
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            raise Unavailable(
                f"{self.provider} answered {self.status} with a body that is not JSON",
                reason="PROVIDER_BAD_RESPONSE",
                metadata={"provider": self.provider, "http_status": str(self.status)},
            ) from None


@dataclass
class _Call:
    """The state of one logical request across attempts and redirects."""

    method: str
    url: URL
    replayable: bool
    idempotent: bool
    authenticate: bool
    auth_sent: dict[str, str] = field(default_factory=dict)
    sent_values: set[str] = field(default_factory=set)
    where: str = ""


def _replayable(data: Any) -> bool:
    return data is None or isinstance(data, bytes | bytearray | str | Mapping | list | tuple)


def _private_cause(exc: BaseException) -> PrivateAddressError | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, PrivateAddressError):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, PrivateAddressError):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None


class ProviderHTTP:
    """One integration's HTTP client (see the module docstring)."""

    limit_per_host: ClassVar[int] = 16

    def __init__(
        self,
        provider_id: str,
        base_url: str,
        auth: Auth,
        *,
        allow_private: bool = False,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        error_text: Callable[[int, bytes], str] | None = None,
        secrets: Iterable[str] = (),
        user_agent: str = "ticketing-grpc",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider_id = provider_id
        try:
            self.base_url = URL(base_url.rstrip("/"))
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"the {provider_id} URL is not valid: {exc}", reason="PROVIDER_URL_REFUSED"
            ) from None
        self.auth = auth
        self.allow_private = allow_private
        self.timeout = timeout
        self.retry = retry
        self.error_text = error_text or body_excerpt
        self._secrets = tuple(secrets)
        self.user_agent = user_agent
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    # -- session -------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session, created on first use (inside the event loop)."""
        if self._session is None or self._session.closed:
            self._resolver = GuardedResolver(allow_private=self.allow_private)
            connector = aiohttp.TCPConnector(
                resolver=self._resolver,
                limit=self.limit_per_host * 4,
                limit_per_host=self.limit_per_host,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Whole-request bounds are applied per attempt (timeout, deadline).
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout, sock_read=self.timeout
                ),
                headers={"User-Agent": self.user_agent},
                # No provider state carried between calls; no proxy from the
                # environment (it would bypass the private-address checks).
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        session, resolver = self._session, self._resolver
        self._session = self._resolver = None
        if session is not None:
            await session.close()
        if resolver is not None:  # the connector does not close a resolver it was given
            await resolver.close()

    # -- public requests -------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Container[int] = OK,
        idempotent: bool | None = None,
        allow_redirects: bool = True,
        authenticate: bool = True,
    ) -> Response:
        """Send a request and read the body; the mapped TicketingError unless status in `ok`.

        `path` is relative to the base URL (appended to its path) or absolute;
        an absolute URL on another origin must be https (unless allow_private)
        and gets no credential headers. `authenticate=False` sends no Auth
        headers (the OAuth token request uses it).
        """
        response, body = await self._send(
            method,
            path,
            params=params,
            json=json,
            data=data,
            headers=headers,
            ok=ok,
            idempotent=idempotent,
            allow_redirects=allow_redirects,
            authenticate=authenticate,
            stream=False,
        )
        return Response(
            response.status, response.headers, body or b"", str(response.url), self.provider_id
        )

    async def get_json(self, path: str, **kw: Any) -> Any:
        return (await self.request("GET", path, **_accept_json(kw))).json()

    async def post_json(self, path: str, body: Any, **kw: Any) -> Any:
        return (await self.request("POST", path, json=body, **_accept_json(kw))).json()

    async def put_json(self, path: str, body: Any, **kw: Any) -> Any:
        return (await self.request("PUT", path, json=body, **_accept_json(kw))).json()

    async def patch_json(self, path: str, body: Any, **kw: Any) -> Any:
        return (await self.request("PATCH", path, json=body, **_accept_json(kw))).json()

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Container[int] = OK,
        idempotent: bool | None = None,
        allow_redirects: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The open response after status mapping, body unread (for downloads).

        Retries happen only before the response is handed over. Failures while
        the caller reads the body map to Unavailable / DeadlineExceeded.
        """
        response, _ = await self._send(
            method,
            path,
            params=params,
            json=json,
            data=data,
            headers=headers,
            ok=ok,
            idempotent=idempotent,
            allow_redirects=allow_redirects,
            authenticate=True,
            stream=True,
        )
        where = f"{method.upper()} {self._where(response.url)}"
        try:
            yield response
        except TimeoutError:
            raise DeadlineExceeded(
                f"{self.provider_id} stalled while sending the body of {where}",
                reason="PROVIDER_TIMEOUT",
                metadata={"provider": self.provider_id},
            ) from None
        except aiohttp.ClientError as exc:
            raise Unavailable(
                self._scrubber(())(
                    f"{self.provider_id} failed while sending the body of {where}:"
                    f" {type(exc).__name__}: {exc}"
                ),
                reason="PROVIDER_UNREACHABLE",
                metadata={"provider": self.provider_id},
            ) from None
        finally:
            if response.content.at_eof():
                response.release()
            else:  # not read to the end: the connection cannot be reused
                response.close()

    # -- the request path --------------------------------------------------------------

    def _resolve(self, target: str | URL, relative_to: URL | None = None) -> URL:
        """The absolute URL for `target`, checked; raises InvalidArgument or PrivateAddressError."""
        try:
            if isinstance(target, URL):
                url = target
            elif relative_to is not None:
                url = relative_to.join(URL(target))
            elif "://" in target:
                url = URL(target)
            else:
                url = URL(f"{self.base_url}/{target.lstrip('/')}")
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"not a valid {self.provider_id} URL: {exc}", reason="PROVIDER_URL_REFUSED"
            ) from None
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise InvalidArgument(
                f"{self.provider_id}: {url.scheme or 'a relative'} URL is not an http(s) URL",
                reason="PROVIDER_URL_REFUSED",
            )
        if url.user is not None or url.password is not None:
            raise InvalidArgument(
                f"{self.provider_id}: a URL must not carry credentials",
                reason="PROVIDER_URL_REFUSED",
            )
        if (
            url.origin() != self.base_url.origin()
            and url.scheme != "https"
            and not self.allow_private
        ):
            raise InvalidArgument(
                f"{self.provider_id}: refusing {url.scheme}://{url.host}: a URL on another"
                " host must use https",
                reason="PROVIDER_URL_REFUSED",
            )
        check_literal_host(url.raw_host, allow_private=self.allow_private)
        return url

    def _where(self, url: URL) -> str:
        """The URL for messages and logs: its path, with the host when not the base's; no query."""
        if url.origin() == self.base_url.origin():
            return url.path
        return f"{url.host}{url.path}"

    def _budget(self) -> float:
        left = deadline.remaining()
        if left is None:
            return self.timeout
        if left <= 0:
            raise DeadlineExceeded(
                f"the call's deadline expired before {self.provider_id} answered",
                reason="PROVIDER_TIMEOUT",
                metadata={"provider": self.provider_id},
            )
        return min(self.timeout, left)

    @staticmethod
    def _fits(wait: float) -> bool:
        """Whether an attempt can still start after `wait` seconds."""
        left = deadline.remaining()
        return left is None or wait + _MIN_ATTEMPT < left

    def _scrubber(self, extra: Iterable[str]) -> Callable[[str], str]:
        auth_secrets: Iterable[str] = getattr(self.auth, "secrets", ())
        return _scrubber([*self._secrets, *auth_secrets, *extra])

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        ok: Container[int],
        idempotent: bool | None,
        allow_redirects: bool,
        authenticate: bool,
        stream: bool,
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        method = method.upper()
        try:
            url = self._resolve(path)
        except PrivateAddressError as exc:
            raise self._refused(exc) from None
        call = _Call(
            method=method,
            url=url,
            replayable=_replayable(data) or idempotent is True,
            idempotent=idempotent if idempotent is not None else method in IDEMPOTENT_METHODS,
            authenticate=authenticate,
            where=f"{method} {self._where(url)}",
        )
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            budget = self._budget()
            try:
                response, body = await self._attempt(
                    call,
                    attempt,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers or {},
                    ok=ok,
                    allow_redirects=allow_redirects,
                    stream=stream,
                    budget=budget,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error, retryable = self._network_error(call, exc)
                if retryable and attempt < self.retry.attempts:
                    wait = self.retry.backoff(attempt)
                    if self._fits(wait):
                        await self._sleep(wait)
                        continue
                    error.retry_after = wait
                raise error from None

            status = response.status
            if status in ok:
                return response, body

            if (
                status == 401
                and call.auth_sent
                and not reauthenticated
                and call.replayable
                and await self._reauthenticate(call)
            ):
                reauthenticated = True
                attempt -= 1  # the retry with new credentials is not a policy retry
                continue

            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = self._status_error(call, response, body or b"", retry_after)
            if (
                status in self.retry.statuses
                and call.replayable
                and (
                    call.idempotent or status == 429 or (status == 503 and retry_after is not None)
                )
                and attempt < self.retry.attempts
                and (retry_after is None or retry_after <= self.retry.max_retry_after)
            ):
                if retry_after is not None:
                    wait = self.retry.honour(retry_after)
                else:
                    wait = self.retry.backoff(attempt)
                if self._fits(wait):
                    await self._sleep(wait)
                    continue
                if error.retry_after is None:
                    error.retry_after = wait
            raise error

    async def _reauthenticate(self, call: _Call) -> bool:
        """After a 401: drop the cached token; True when the new headers differ."""
        self.auth.invalidate()
        fresh = dict(await self.auth.headers(self))
        call.sent_values.update(fresh.values())
        return fresh != call.auth_sent

    async def _attempt(
        self,
        call: _Call,
        attempt: int,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str],
        ok: Container[int],
        allow_redirects: bool,
        stream: bool,
        budget: float,
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        """One attempt, following redirects; the response is released unless handed over."""
        method, url = call.method, call.url
        options: dict[str, Any] = {}
        if stream:
            # The body is read after we return: bound it by the deadline too.
            options["timeout"] = aiohttp.ClientTimeout(
                total=deadline.remaining(), sock_connect=self.timeout, sock_read=self.timeout
            )
        async with asyncio.timeout(budget):
            for hop in range(_MAX_REDIRECTS + 1):
                send = dict(headers)
                if url.origin() != call.url.origin():  # redirected elsewhere: no credentials
                    send = {k: v for k, v in send.items() if k.lower() != "authorization"}
                call.auth_sent = {}
                if call.authenticate and url.origin() == self.base_url.origin():
                    credentials = dict(await self.auth.headers(self))
                    call.auth_sent = credentials
                    call.sent_values.update(credentials.values())
                    send = {**credentials, **send}
                started = time.monotonic()
                try:
                    response = await self.session.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        data=data,
                        headers=send,
                        allow_redirects=False,
                        **options,
                    )
                except BaseException as exc:
                    self._log(call, method, url, type(exc).__name__, started, attempt)
                    raise
                self._log(call, method, url, response.status, started, attempt)
                try:
                    target = (
                        self._redirect(call, response)
                        if allow_redirects and hop < _MAX_REDIRECTS
                        else None
                    )
                    if target is not None:
                        response.close()
                        status = response.status
                        url = target
                        params = None  # the Location carries the whole query
                        if status == 303 or (status in (301, 302) and method == "POST"):
                            method, json, data = "GET", None, None
                        continue
                    if stream and response.status in ok:
                        return response, None
                    if stream:
                        body = await response.content.read(_ERROR_BODY_LIMIT)
                        response.close()
                    else:
                        body = await response.read()
                        response.release()
                    return response, body
                except BaseException:
                    response.close()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _redirect(self, call: _Call, response: aiohttp.ClientResponse) -> URL | None:
        """The checked next URL when `response` is a redirect to follow, else None."""
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return None
        if response.status in (307, 308) and not call.replayable:
            return None  # the body cannot be sent again: the 3xx becomes the answer
        return self._resolve(location, relative_to=response.url)

    def _log(
        self,
        call: _Call,
        method: str,
        url: URL,
        outcome: int | str,
        started: float,
        attempt: int,
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s -> %s in %.0f ms (attempt %d)",
                self.provider_id,
                method,
                self._where(url),
                outcome,
                (time.monotonic() - started) * 1000,
                attempt,
            )

    # -- errors -----------------------------------------------------------------------

    def _refused(self, exc: PrivateAddressError) -> InvalidArgument:
        return InvalidArgument(
            f"{self.provider_id}: {exc.strerror}",
            reason="PROVIDER_URL_REFUSED",
            metadata={"provider": self.provider_id},
        )

    def _network_error(self, call: _Call, exc: BaseException) -> tuple[TicketingError, bool]:
        """The error for a failed exchange and whether trying again may help."""
        private = _private_cause(exc)
        if private is not None:
            return self._refused(private), False
        metadata = {"provider": self.provider_id}
        scrub = self._scrubber(call.sent_values)
        detail = scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            # Could not connect in time: nothing was sent.
            message = f"{self.provider_id} could not be reached for {call.where}: {detail}"
            return Unavailable(
                scrub(message), reason="PROVIDER_UNREACHABLE", metadata=metadata
            ), call.replayable
        if isinstance(exc, TimeoutError):
            left = deadline.remaining()
            if left is not None and left <= _MIN_ATTEMPT:
                message = f"the call's deadline expired before {self.provider_id} answered"
            else:
                message = f"{self.provider_id} did not answer within {self.timeout:g} s"
            return DeadlineExceeded(
                f"{message} ({call.where})", reason="PROVIDER_TIMEOUT", metadata=metadata
            ), False
        if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
            message = f"TLS with {self.provider_id} failed for {call.where}: {detail}"
            return Unavailable(
                scrub(message), reason="PROVIDER_TLS_ERROR", metadata=metadata
            ), False
        if isinstance(exc, aiohttp.InvalidURL):
            return InvalidArgument(
                scrub(f"{self.provider_id}: invalid URL for {call.where}"),
                reason="PROVIDER_URL_REFUSED",
                metadata=metadata,
            ), False
        message = scrub(f"{self.provider_id} could not be reached for {call.where}: {detail}")
        error = Unavailable(message, reason="PROVIDER_UNREACHABLE", metadata=metadata)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return error, call.replayable  # no connection was made: nothing was sent
        return error, call.replayable and call.idempotent

    def _status_error(
        self,
        call: _Call,
        response: aiohttp.ClientResponse,
        body: bytes,
        retry_after: float | None,
    ) -> TicketingError:
        status = response.status
        scrub = self._scrubber(call.sent_values)
        raw = body[:_ERROR_BODY_LIMIT]
        clean = scrub(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        try:
            text = self.error_text(status, clean)
        except Exception:  # a plugin's parser choking on an odd body
            text = body_excerpt(status, clean)
        text = scrub(text)
        if len(text) > _TEXT_LIMIT:
            text = text[: _TEXT_LIMIT - 1] + "…"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = response.reason or ""
        where = f"{call.method} {self._where(response.url)}"
        message = f"{self.provider_id} answered {status} {phrase} to {where}".replace("  ", " ")
        if text:
            message = f"{message}: {text}"
        return error_for_status(self.provider_id, status, scrub(message), retry_after=retry_after)


def _accept_json(kw: dict[str, Any]) -> dict[str, Any]:
    headers = dict(kw.get("headers") or {})
    if not any(name.lower() == "accept" for name in headers):
        headers["Accept"] = "application/json"
    return {**kw, "headers": headers}
