"""The plumbing the provider fakes share: a server on a real socket, a request log, a fault
switch and the list of violations.

A fake subclasses :class:`RetryFakeServer` (or :class:`FakeServer` when its ``fail_next``
takes other options, as PagerDuty's), parametrised with its :class:`Fault` and
:class:`RecordedRequest` types (``fault_type``, ``record_type``), builds ``self.app`` with
:meth:`FakeServer._middleware` (or calls :meth:`FakeServer._record` from its own handler)
and fills in the provider's side:

- :meth:`FakeServer._serve`: answer a request the middleware has logged (body parsing,
  spec checks, auth, the handler), starting with :meth:`FakeServer._fault_answer`, the
  fault switch.
- :meth:`FakeServer._fault_error`: the provider's error answer for a faulted status;
  :meth:`FakeServer._fault_headers`: what the provider sends with it (``Retry-After``,
  rate-limit headers); :attr:`FakeServer.malformed_body`: broken JSON of the provider's
  shape.
- Optionally ``_path_matches`` (on the server for ``calls``, on the fault for
  ``fail_next(path=...)``) when a path prefix means more than ``str.startswith``.

A fake that collects problems adds :class:`Violations` (``violations`` and
``assert_no_violations()``), or :class:`SpecViolations` when it checks requests and answers
against an OpenAPI description.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from aiohttp import web
from multidict import MultiDict

from .spec import OpenAPISpec, Operation

__all__ = [
    "DEFAULT",
    "FakeServer",
    "Fault",
    "Handler",
    "RecordedRequest",
    "RetryFakeServer",
    "RetryFault",
    "SpecViolations",
    "Violation",
    "Violations",
    "json_response",
    "seconds",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def seconds(value: float | str) -> str:
    """A ``Retry-After`` value: ``2`` for 2.0, ``0.5`` for 0.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _raw(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


# -- the request log ------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake saw it; fakes subclass it to note more."""

    method: str
    path: str
    query: MultiDict[str]
    headers: dict[str, str]
    json: Any = None
    status: int | None = None  # the answer's status, once known

    def __str__(self) -> str:
        qs = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + qs if qs else ''} -> {self.status}"


# -- the fault switch -----------------------------------------------------------------------


@dataclass
class Fault:
    """One entry of the fault switch; see :meth:`FakeServer.fail_next`."""

    status: int | None = None
    times: int = 1
    malformed: bool = False
    delay: float = 0.0
    reset: bool = False
    path: str | None = None  # a prefix, e.g. "/rest/api/3/search/jql"
    method: str | None = None
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or self._path_matches(path, self.path)

    @staticmethod
    def _path_matches(path: str, prefix: str) -> bool:
        return path.startswith(prefix)


@dataclass
class RetryFault(Fault):
    """A fault that may carry ``Retry-After`` (``retry_after`` seconds)."""

    retry_after: float | None = None


class _FaultDefault:
    """``fail_next(retry_after=DEFAULT)``: the default of the fake's ``Fault.retry_after``."""

    def __repr__(self) -> str:
        return "<the fault type's default>"


DEFAULT: Any = _FaultDefault()


# -- violations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A request or answer that drifts from the provider's API description."""

    method: str
    path: str
    operation: str | None
    where: str  # "request" | "response" | "operation" | "fake"
    message: str

    def __str__(self) -> str:
        op = f" ({self.operation})" if self.operation else ""
        return f"{self.method} {self.path}{op} {self.where}: {self.message}"


class Violations:
    """``violations`` and ``assert_no_violations()`` for a fake that collects problems."""

    violations: list[Any]
    violations_are: ClassVar[str]  # "request(s) off the Torq API": what the problems are

    def _problems(self) -> Sequence[object]:
        return self.violations

    def assert_no_violations(self) -> None:
        problems = self._problems()
        if problems:
            lines = "\n  ".join(str(p) for p in problems)
            raise AssertionError(f"{len(problems)} {self.violations_are}:\n  {lines}")


class SpecViolations(Violations):
    """Violations of a fake checked against an OpenAPI description (``spec``)."""

    spec: OpenAPISpec | None
    violations: list[Violation]
    undeclared: ClassVar[str] = "status {} undeclared"  # an undeclared 2xx, as reported

    def _violation(self, request: web.Request, op: str | None, where: str, message: str) -> None:
        self.violations.append(Violation(request.method, request.path, op, where, message))

    def _check_response(
        self, request: web.Request, op: Operation, response: web.StreamResponse, faulted: bool
    ) -> None:
        """Check an answer against ``op``: a JSON body (unless a fault made it) against its
        schema, any other 2xx against the declared statuses."""
        if self.spec is None or not isinstance(response, web.Response):
            return
        if response.content_type == "application/json" and isinstance(response.body, bytes):
            if faulted:
                return
            try:
                payload = json.loads(response.body)
            except ValueError:
                return
            for problem in self.spec.validate_response(
                op, response.status, response.content_type, payload
            ):
                self._violation(request, op.operation_id, "response", problem)
        elif (
            200 <= response.status < 300
            and self.spec.declared_response(op, response.status) is None
        ):
            message = self.undeclared.format(response.status)
            self._violation(request, op.operation_id, "response", message)


# -- the server -----------------------------------------------------------------------------

F = TypeVar("F", bound=Fault)
R = TypeVar("R", bound=RecordedRequest)


class FakeServer(Generic[F, R]):
    """Lifecycle, request log and fault switch of a fake on a real socket.

    ``async with Fake(...) as fake`` starts it on ``host``, port 0 (a free one).
    """

    fault_type: type[F]
    record_type: type[R]
    malformed_body: ClassVar[str] = "{"  # a fault's default body when ``malformed``
    app: web.Application

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.faults: list[F] = []
        self.requests: list[R] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the request log ------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[R]:
        """Recorded requests, optionally filtered by method and path prefix."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or self._path_matches(r.path, path))
        ]

    @staticmethod
    def _path_matches(path: str, prefix: str) -> bool:
        return path.startswith(prefix)

    def _record(self, request: web.Request) -> R:
        """Log ``request`` (its answer's status is filled in later)."""
        record = self.record_type(
            request.method, request.path, MultiDict(request.query), dict(request.headers)
        )
        self.requests.append(record)
        return record

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        record = self._record(request)
        response = await self._serve(request, handler, record)
        record.status = response.status
        return response

    async def _serve(self, request: web.Request, handler: Handler, record: R) -> web.StreamResponse:
        """Answer a request :meth:`_middleware` has recorded."""
        raise NotImplementedError

    # -- the fault switch -----------------------------------------------------------------

    def _add_fault(
        self,
        status: int | None,
        *,
        malformed: bool,
        delay: float | None,
        reset: bool,
        headers: dict[str, str] | None,
        **options: Any,
    ) -> F:
        if status is None and not (malformed or reset or delay):
            raise ValueError("a fault needs status, malformed, delay or reset")
        fault = self.fault_type(
            status=status,
            malformed=malformed,
            delay=delay or 0.0,
            reset=reset,
            headers=dict(headers or {}),
            **options,
        )
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, method: str, path: str) -> F | None:
        """The first queued fault that matches, counted as fired (and dropped when spent)."""
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.fired += 1
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
        return fault

    async def _fault_answer(self, request: web.Request) -> web.Response | None:
        """Apply the fault switch to ``request``: the faulted answer, or None to answer it
        as usual (after the fault's delay, if any)."""
        fault = self._take_fault(request.method, request.path)
        if fault is None:
            return None
        if fault.reset or fault.status is not None or fault.malformed:
            return await self._serve_fault(request, fault)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        return None

    async def _serve_fault(self, request: web.Request, fault: F) -> web.Response:
        """Sleep ``fault.delay``, then drop the connection or give the faulted answer."""
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return self._fault_response(fault)

    def _fault_response(self, fault: F) -> web.Response:
        headers = dict(fault.headers)
        status = fault.status or 200
        if fault.malformed:
            return self._malformed_response(fault, status, headers)
        self._fault_headers(fault, status, headers)
        if fault.body is not None:
            return web.Response(status=status, body=_raw(fault.body), headers=headers)
        return self._fault_error(status, headers)

    def _malformed_response(self, fault: F, status: int, headers: dict[str, str]) -> web.Response:
        body = fault.body if fault.body is not None else self.malformed_body
        return web.Response(
            status=status, body=_raw(body), headers={**headers, "Content-Type": "application/json"}
        )

    def _fault_headers(self, fault: F, status: int, headers: dict[str, str]) -> None:
        """Hook: add what the provider sends with a faulted ``status`` (Retry-After, ...)."""

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        """Hook: the provider's error answer for a faulted ``status``, with ``headers``."""
        raise NotImplementedError


class RetryFakeServer(FakeServer[F, R]):
    """A :class:`FakeServer` whose faults may carry ``Retry-After`` (``F`` has a
    ``retry_after`` field): every fake's fault switch but PagerDuty's."""

    def fail_next(
        self,
        status: int | None = None,
        *,
        retry_after: float | str | None = DEFAULT,
        times: int = 1,
        malformed: bool = False,
        delay: float | None = None,
        reset: bool = False,
        path: str | None = None,
        method: str | None = None,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> F:
        """Queue a fault for the next ``times`` matching requests (``path`` is a prefix).

        - ``status``: answer that status with the provider's error body (the fake's
          ``_fault_error``) and headers (its ``_fault_headers``: ``Retry-After`` from
          ``retry_after`` — its default is the fake's ``Fault.retry_after`` — and
          rate-limit headers); ``body`` replaces the body.
        - ``malformed``: 200 (or ``status``) with ``Content-Type: application/json`` and a
          body that is not JSON (``body`` overrides it).
        - ``delay``: sleep that long first; alone it only slows the real answer down.
        - ``reset``: close the connection without an answer.
        """
        options = {} if retry_after is DEFAULT else {"retry_after": retry_after}
        return self._add_fault(
            status,
            times=times,
            malformed=malformed,
            delay=delay,
            reset=reset,
            path=path,
            method=method,
            body=body,
            headers=headers,
            **options,
        )
