"""ProviderHTTP against real aiohttp servers on 127.0.0.1.

Retry waits go through an injected sleep (recorded, not slept) except where a
test is about real time (deadlines, timeouts, cancellation).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from ticketing.v1 import integrations_pb2

from ticketing_grpc import deadline
from ticketing_grpc.errors import (
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    NotSupported,
    PermissionDenied,
    RateLimited,
    TicketingError,
    Unauthenticated,
    Unavailable,
)
from ticketing_grpc.providers.http import (
    Auth,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    ProviderHTTP,
    RetryPolicy,
    auth_from_credential,
    parse_retry_after,
)

PROVIDER = "ticketing_test"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]
Make = Callable[..., ProviderHTTP]


class Sleeps:
    """An injected sleep: records the waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app with the given routes; returns its base URL (no trailing slash)."""
    servers: list[TestServer] = []

    async def start(*routes: web.RouteDef) -> str:
        app = web.Application()
        app.add_routes(routes)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    made: list[ProviderHTTP] = []

    def build(base: str, auth: Auth | None = None, **kw: Any) -> ProviderHTTP:
        kw.setdefault("allow_private", True)
        http = ProviderHTTP(PROVIDER, base, auth or BearerAuth("tok-0123456789"), **kw)
        made.append(http)
        return http

    yield build
    for http in made:
        await http.close()


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block as if the RPC had `seconds` left (the interceptor's job in the server)."""
    token = deadline.set_from_remaining(seconds)
    try:
        yield
    finally:
        deadline.reset(token)


def recorder(
    hits: list[web.Request], answer: Callable[[web.Request], web.StreamResponse] | None = None
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(request)
        await request.read()
        return answer(request) if answer else web.json_response({"ok": True})

    return handler


def statuses(*answers: tuple[int, dict[str, str]], hits: list[web.Request]) -> Handler:
    """Answer the given (status, headers) in turn, then 200 {"ok": true}."""
    queue = list(answers)

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(request)
        await request.read()
        if queue:
            status, headers = queue.pop(0)
            return web.json_response(
                {"message": f"status {status}"}, status=status, headers=headers
            )
        return web.json_response({"ok": True})

    return handler


# -- auth schemes -------------------------------------------------------------------


async def test_basic_bearer_and_header_auth_as_the_server_sees_them(
    serve: Serve, make: Make
) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", recorder(hits)))

    await make(base, BasicAuth("agent@example.com", "pa:ss-wörd")).request("GET", "/x")
    await make(base, BearerAuth("tok-abc123")).request("GET", "/x")
    await make(base, BearerAuth("pd-key-1234", prefix="Token token=")).request("GET", "/x")
    autotask = integrations_pb2.Credential(
        autotask=integrations_pb2.AutotaskCredential(
            api_integration_code="CODE1234", username="api@example.com", secret="at-secret"
        )
    )
    await make(base, auth_from_credential(autotask)).request("GET", "/x")

    expected = base64.b64encode("agent@example.com:pa:ss-wörd".encode()).decode()
    assert hits[0].headers["Authorization"] == f"Basic {expected}"
    assert hits[1].headers["Authorization"] == "Bearer tok-abc123"
    assert hits[2].headers["Authorization"] == "Token token=pd-key-1234"
    assert "Authorization" not in hits[3].headers
    assert hits[3].headers["ApiIntegrationCode"] == "CODE1234"
    assert hits[3].headers["UserName"] == "api@example.com"
    assert hits[3].headers["Secret"] == "at-secret"
    assert all(hit.headers["User-Agent"] == "ticketing-grpc" for hit in hits)


def test_auth_from_credential_kinds() -> None:
    cred = integrations_pb2
    basic = auth_from_credential(
        cred.Credential(basic=cred.BasicCredential(username="u@example.com", secret="s3cret!"))
    )
    assert isinstance(basic, BasicAuth) and "s3cret!" in basic.secrets
    token = auth_from_credential(cred.Credential(token=cred.TokenCredential(secret="tk-1234")))
    assert isinstance(token, BearerAuth) and token.secrets == ("tk-1234",)
    oauth = auth_from_credential(
        cred.Credential(
            oauth_client=cred.OAuthClientCredential(client_id="cid", client_secret="csecret")
        ),
        default_token_url="/oauth_token.do",
        scopes=("useraccount",),
    )
    assert isinstance(oauth, OAuth2ClientCredentials)
    assert oauth.token_url == "/oauth_token.do" and oauth.scopes == ("useraccount",)
    assert "csecret" in oauth.secrets
    with pytest.raises(InvalidArgument, match="token_url"):
        auth_from_credential(
            cred.Credential(
                oauth_client=cred.OAuthClientCredential(client_id="cid", client_secret="x")
            )
        )
    with pytest.raises(InvalidArgument, match="no credential"):
        auth_from_credential(cred.Credential())
    with pytest.raises(InvalidArgument, match="token"):
        auth_from_credential(cred.Credential(token=cred.TokenCredential()))


# -- OAuth2 client credentials ------------------------------------------------------------


class TokenServer:
    """A token endpoint issuing tok-1, tok-2, ... and an API accepting `valid` tokens."""

    def __init__(self, expires_in: float = 100, valid: Callable[[str], bool] | None = None):
        self.issued = 0
        self.forms: list[dict[str, str]] = []
        self.api_hits: list[str] = []
        self.expires_in = expires_in
        self.valid = valid or (lambda token: token == f"tok-{self.issued}")

    async def token(self, request: web.Request) -> web.Response:
        self.forms.append(dict(await request.post()))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # long enough for concurrent callers to pile up
        self.issued += 1
        return web.json_response(
            {
                "access_token": f"tok-{self.issued}",
                "token_type": "bearer",
                "expires_in": self.expires_in,
            }
        )

    async def api(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.api_hits.append(token)
        if not self.valid(token):
            return web.json_response({"error": "invalid token"}, status=401)
        return web.json_response({"token": token})

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/oauth/token", self.token), web.get("/api", self.api)]


async def test_oauth_token_fetched_once_for_concurrent_requests(serve: Serve, make: Make) -> None:
    fake = TokenServer()
    base = await serve(*fake.routes())
    auth = OAuth2ClientCredentials("/oauth/token", "client-1", "client-secret-1", ("a", "b"))
    http = make(base, auth)

    results = await asyncio.gather(*(http.get_json("/api") for _ in range(10)))

    assert [r["token"] for r in results] == ["tok-1"] * 10
    assert fake.issued == 1 and auth.fetches == 1
    assert fake.forms == [
        {
            "grant_type": "client_credentials",
            "scope": "a b",
            "client_id": "client-1",
            "client_secret": "client-secret-1",
        }
    ]


async def test_oauth_token_refreshed_before_it_expires(serve: Serve, make: Make) -> None:
    fake = TokenServer(expires_in=100)
    base = await serve(*fake.routes())
    now = [1000.0]
    auth = OAuth2ClientCredentials(
        "/oauth/token", "client-1", "client-secret-1", clock=lambda: now[0]
    )
    http = make(base, auth)

    assert (await http.get_json("/api"))["token"] == "tok-1"
    now[0] += 85  # within its lifetime, outside the margin (10 s for 100 s)
    assert (await http.get_json("/api"))["token"] == "tok-1"
    now[0] += 6  # 91 s: inside the refresh margin
    assert (await http.get_json("/api"))["token"] == "tok-2"
    assert fake.issued == 2
    assert fake.api_hits == ["tok-1", "tok-1", "tok-2"]  # no request sent a stale token


async def test_oauth_401_drops_the_token_and_retries_once(serve: Serve, make: Make) -> None:
    fake = TokenServer(valid=lambda token: token == "tok-2")  # tok-1 was revoked
    base = await serve(*fake.routes())
    http = make(base, OAuth2ClientCredentials("/oauth/token", "c", "client-secret-1"))

    assert (await http.get_json("/api"))["token"] == "tok-2"
    assert fake.api_hits == ["tok-1", "tok-2"] and fake.issued == 2


async def test_oauth_401_retried_only_once(serve: Serve, make: Make) -> None:
    fake = TokenServer(valid=lambda token: False)
    base = await serve(*fake.routes())
    http = make(base, OAuth2ClientCredentials("/oauth/token", "c", "client-secret-1"))

    with pytest.raises(Unauthenticated) as caught:
        await http.get_json("/api")
    assert fake.api_hits == ["tok-1", "tok-2"] and fake.issued == 2
    assert caught.value.metadata == {"provider": PROVIDER, "http_status": "401"}


async def test_basic_auth_401_is_not_retried(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses((401, {}), (401, {}), hits=hits)))
    with pytest.raises(Unauthenticated):
        await make(base, BasicAuth("user", "password-1")).request("GET", "/x")
    assert len(hits) == 1  # the same credentials would fail the same way


async def test_oauth_token_endpoint_refusal(serve: Serve, make: Make) -> None:
    async def token(request: web.Request) -> web.Response:
        secret = str((await request.post())["client_secret"])
        body = {"error": "invalid_client", "error_description": f"bad secret {secret}"}
        return web.json_response(body, status=401)

    base = await serve(web.post("/oauth/token", token))
    http = make(base, OAuth2ClientCredentials("/oauth/token", "c", "client-secret-1"))
    with pytest.raises(Unauthenticated) as caught:
        await http.get_json("/api")
    assert caught.value.reason == "PROVIDER_OAUTH_FAILED"
    assert "invalid_client" in caught.value.message
    assert "client-secret-1" not in caught.value.message


async def test_oauth_token_endpoint_on_another_host_with_basic_client_auth(
    serve: Serve, make: Make
) -> None:
    fake = TokenServer()
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return await fake.token(request)

    issuer = await serve(web.post("/oauth/token", token))
    base = await serve(*fake.routes())
    auth = OAuth2ClientCredentials(
        f"{issuer}/oauth/token", "client 1", "client-secret-1", client_auth="basic"
    )
    assert (await make(base, auth).get_json("/api"))["token"] == "tok-1"
    assert seen == ["Basic " + base64.b64encode(b"client+1:client-secret-1").decode()]
    assert fake.forms == [{"grant_type": "client_credentials"}]


# -- retries ------------------------------------------------------------------------


async def test_503_then_200_is_retried_with_backoff(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses((503, {}), hits=hits)))
    sleeps = Sleeps()
    response = await make(base, sleep=sleeps).request("GET", "/x")
    assert response.status == 200 and response.json() == {"ok": True}
    assert len(hits) == 2
    assert len(sleeps.waits) == 1 and 0.25 <= sleeps.waits[0] <= 0.5  # base 0.5, equal jitter


async def test_429_retry_after_seconds_and_date_are_honoured(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    handler = statuses((429, {"Retry-After": "1"}), (503, {"Retry-After": when}), hits=hits)
    base = await serve(web.get("/x", handler))
    sleeps = Sleeps()
    await make(base, sleep=sleeps).request("GET", "/x")
    assert len(hits) == 3
    assert 1.0 <= sleeps.waits[0] <= 1.1
    assert 1.5 <= sleeps.waits[1] <= 3.3  # an HTTP-date, to the second


async def test_retries_give_up_after_the_attempts(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses(*[(502, {})] * 10, hits=hits)))
    sleeps = Sleeps()
    with pytest.raises(Unavailable) as caught:
        await make(base, sleep=sleeps, retry=RetryPolicy(attempts=3)).request("GET", "/x")
    assert len(hits) == 3 and len(sleeps.waits) == 2
    assert 0.25 <= sleeps.waits[0] <= 0.5 and 0.5 <= sleeps.waits[1] <= 1.0
    assert caught.value.metadata["http_status"] == "502"


@pytest.mark.parametrize(
    ("status", "headers", "expected_hits"),
    [
        (429, {}, 2),
        (503, {"Retry-After": "0"}, 2),
        (503, {}, 1),  # may have been acted on: no Retry-After promise
        (502, {}, 1),
        (504, {}, 1),
    ],
)
async def test_post_retried_only_when_the_provider_declined_it(
    serve: Serve, make: Make, status: int, headers: dict[str, str], expected_hits: int
) -> None:
    hits: list[web.Request] = []
    base = await serve(web.post("/x", statuses((status, headers), hits=hits)))
    http = make(base, sleep=Sleeps())
    if expected_hits == 1:
        with pytest.raises(TicketingError):
            await http.request("POST", "/x", json={"a": 1})
    else:
        await http.request("POST", "/x", json={"a": 1})
        assert [await hit.json() for hit in hits] == [{"a": 1}, {"a": 1}]
    assert len(hits) == expected_hits


async def test_connection_drop_retried_only_for_idempotent(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []

    async def drop(request: web.Request) -> web.Response:
        hits.append(request)
        await request.read()
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(5)  # cancelled when the connection is gone
        return web.Response()

    base = await serve(web.post("/x", drop))
    sleeps = Sleeps()
    http = make(base, sleep=sleeps)

    with pytest.raises(Unavailable) as caught:
        await http.request("POST", "/x", json={})
    assert len(hits) == 1 and sleeps.waits == []
    assert caught.value.reason == "PROVIDER_UNREACHABLE"
    assert caught.value.metadata == {"provider": PROVIDER}

    with pytest.raises(Unavailable):
        await http.request("POST", "/x", json={}, idempotent=True)
    assert len(hits) == 1 + 4 and len(sleeps.waits) == 3


async def test_connection_refused_is_retried_even_for_post(make: Make) -> None:
    sleeps = Sleeps()
    http = make(f"http://127.0.0.1:{unused_port()}", sleep=sleeps)
    with pytest.raises(Unavailable) as caught:
        await http.request("POST", "/x", json={})
    assert len(sleeps.waits) == 3  # nothing was sent, so trying again is safe
    bounds = [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)]  # equal jitter on 0.5 * 2**n
    assert all(lo <= w <= hi for w, (lo, hi) in zip(sleeps.waits, bounds, strict=True))
    assert caught.value.reason == "PROVIDER_UNREACHABLE"
    assert "POST /x" in caught.value.message


@pytest.mark.parametrize(("status", "error"), [(503, Unavailable), (429, RateLimited)])
async def test_retry_stops_at_the_deadline(
    serve: Serve,
    make: Make,
    status: int,
    error: type[TicketingError],
) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses(*[(status, {"Retry-After": "5"})] * 9, hits=hits)))
    http = make(base)  # real sleep: the test is that there is none
    started = time.monotonic()
    with within(0.3), pytest.raises(error) as caught:
        await http.request("GET", "/x")
    assert time.monotonic() - started < 0.25
    assert type(caught.value) is error
    assert caught.value.retry_after == 5.0
    assert len(hits) == 1


async def test_backoff_stops_at_the_deadline(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses(*[(503, {})] * 20, hits=hits)))
    http = make(base, retry=RetryPolicy(attempts=20, base=0.1))
    started = time.monotonic()
    with within(0.4), pytest.raises(Unavailable) as caught:
        await http.request("GET", "/x")
    elapsed = time.monotonic() - started
    assert elapsed < 0.4
    assert 2 <= len(hits) <= 4
    # The wait it would have needed, which did not fit: the client's RetryInfo.
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0.4 - elapsed - 0.06


async def test_long_retry_after_goes_to_the_caller(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses((429, {"Retry-After": "120"}), hits=hits)))
    sleeps = Sleeps()
    with pytest.raises(RateLimited) as caught:
        await make(base, sleep=sleeps).request("GET", "/x")
    assert caught.value.retry_after == 120.0 and sleeps.waits == [] and len(hits) == 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


# -- error mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (400, InvalidArgument, "PROVIDER_INVALID_ARGUMENT"),
        (401, Unauthenticated, "PROVIDER_UNAUTHENTICATED"),
        (403, PermissionDenied, "PROVIDER_PERMISSION_DENIED"),
        (404, NotFound, "PROVIDER_NOT_FOUND"),
        (409, Conflict, "PROVIDER_CONFLICT"),
        (410, NotSupported, "PROVIDER_GONE"),
        (422, InvalidArgument, "PROVIDER_UNPROCESSABLE"),
        (429, RateLimited, "PROVIDER_RATE_LIMITED"),
        (500, Unavailable, "PROVIDER_UNAVAILABLE"),
        (502, Unavailable, "PROVIDER_UNAVAILABLE"),
        (418, InvalidArgument, "PROVIDER_REJECTED"),
    ],
)
async def test_status_mapping(
    serve: Serve, make: Make, status: int, error: type[TicketingError], reason: str
) -> None:
    async def handler(request: web.Request) -> web.Response:
        headers = {"Retry-After": "7"} if status in (429, 502, 404) else {}
        body = {"errorMessages": [f"Issue does not exist ({status})"], "errors": {}}
        return web.json_response(body, status=status, headers=headers)

    base = await serve(web.get("/rest/api/3/issue/{key}", handler))
    http = make(base, retry=RetryPolicy(attempts=1))
    with pytest.raises(TicketingError) as caught:
        await http.request("GET", "/rest/api/3/issue/ABC-1", params={"q": "hidden-query"})
    err = caught.value
    assert type(err) is error
    assert err.reason == reason
    assert err.metadata == {"provider": PROVIDER, "http_status": str(status)}
    assert err.message.startswith(f"{PROVIDER} answered {status} ")
    assert "GET /rest/api/3/issue/ABC-1" in err.message
    assert f"Issue does not exist ({status})" in err.message
    assert "hidden-query" not in err.message
    # RetryInfo only where the provider said when, and only for retryable kinds.
    assert err.retry_after == (7.0 if status in (429, 502) else None)


async def test_plugin_error_text_and_ok_statuses(serve: Serve, make: Make) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"errorMessages": ["first", "second"]}, status=404)

    def jira_text(status: int, body: bytes) -> str:
        return "; ".join(json.loads(body)["errorMessages"])

    base = await serve(web.get("/x", handler))
    with pytest.raises(NotFound) as caught:
        await make(base, error_text=jira_text).request("GET", "/x")
    assert caught.value.message.endswith(": first; second")
    # A status the caller expects is not an error.
    response = await make(base).request("GET", "/x", ok=(200, 404))
    assert response.status == 404 and response.json()["errorMessages"][0] == "first"


async def test_non_json_body_is_a_bad_response(serve: Serve, make: Make) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    base = await serve(web.get("/x", handler))
    with pytest.raises(Unavailable) as caught:
        await make(base).get_json("/x")
    assert caught.value.reason == "PROVIDER_BAD_RESPONSE"


# -- secrets -------------------------------------------------------------------------


async def echo(request: web.Request) -> web.Response:
    """An error body echoing the credential headers, as careless APIs do."""
    seen = {k: v for k, v in request.headers.items() if k in ("Authorization", "Secret")}
    auth = request.headers.get("Authorization", "")
    return web.json_response(
        {
            # The credential starts just before the 300th character: the default
            # excerpt must not keep its first characters when it cuts the text.
            "message": "x" * 262 + f" rejected {auth}",
            "headers": seen,
            "decoded": base64.b64decode(auth.split()[-1]).decode() if "Basic" in auth else "",
        },
        status=403,
    )


@pytest.mark.parametrize(
    ("auth", "secrets"),
    [
        (BasicAuth("key-user-42", "basic-pass-1"), ["basic-pass-1", "key-user-42"]),
        (BearerAuth("bearer-tok-99"), ["bearer-tok-99"]),
        (HeaderAuth({"Secret": "at-secret-7"}), ["at-secret-7"]),
    ],
)
async def test_secrets_scrubbed_from_messages(
    serve: Serve, make: Make, auth: Auth, secrets: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = await serve(web.get("/x", echo))
    with pytest.raises(PermissionDenied) as excerpt:
        await make(base, auth).request("GET", "/x")
    with pytest.raises(PermissionDenied) as whole:  # a plugin keeping the whole body
        await make(base, auth, error_text=lambda s, b: b.decode()).request("GET", "/x")
    assert "***" in whole.value.message and '"headers"' in whole.value.message
    blob = base64.b64encode(b"key-user-42:basic-pass-1").decode()
    for secret in [*secrets, blob]:
        for message in (excerpt.value.message, whole.value.message, caplog.text):
            assert secret[:6] not in message, secret
    assert "GET /x -> 403" in caplog.text


async def test_oauth_access_token_scrubbed(serve: Serve, make: Make) -> None:
    fake = TokenServer()
    base = await serve(*fake.routes(), web.get("/x", echo))
    http = make(base, OAuth2ClientCredentials("/oauth/token", "c", "client-secret-1"))
    with pytest.raises(PermissionDenied) as caught:
        await http.request("GET", "/x")
    assert "tok-1" not in caught.value.message and "***" in caught.value.message


async def test_secrets_passed_explicitly_are_scrubbed(serve: Serve, make: Make) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="webhook secret whsec-abcdef is wrong", status=400)

    base = await serve(web.get("/x", handler))
    with pytest.raises(InvalidArgument) as caught:
        await make(base, secrets=["whsec-abcdef"]).request("GET", "/x")
    assert caught.value.message.endswith("webhook secret *** is wrong")


# -- timeouts, deadlines, cancellation ---------------------------------------------------


def slow(seconds: float, events: list[str]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        events.append("started")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return web.json_response({})

    return handler


async def test_timeout_is_deadline_exceeded(serve: Serve, make: Make) -> None:
    events: list[str] = []
    base = await serve(web.get("/slow", slow(2, events)))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        await make(base, timeout=0.2, sleep=Sleeps()).request("GET", "/slow")
    assert 0.2 <= time.monotonic() - started < 0.6
    assert caught.value.reason == "PROVIDER_TIMEOUT"
    assert "within 0.2 s" in caught.value.message
    assert events == ["started"]  # not retried


async def test_the_rpc_deadline_bounds_the_request(serve: Serve, make: Make) -> None:
    events: list[str] = []
    base = await serve(web.get("/slow", slow(2, events)))
    http = make(base)
    started = time.monotonic()
    with within(0.2):
        with pytest.raises(DeadlineExceeded, match="deadline"):
            await http.request("GET", "/slow")
        assert time.monotonic() - started < 0.5
        # Nothing is sent once the deadline has passed.
        await asyncio.sleep(0.05)
        with pytest.raises(DeadlineExceeded):
            await http.request("GET", "/slow")
    assert events.count("started") == 1
    assert deadline.remaining() is None


async def test_cancelling_the_call_cancels_the_request(serve: Serve, make: Make) -> None:
    events: list[str] = []
    base = await serve(web.get("/slow", slow(2, events)))
    task = asyncio.create_task(make(base).request("GET", "/slow"))
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if "cancelled" in events:
            break
        await asyncio.sleep(0.01)
    assert events == ["started", "cancelled"]  # the server saw the connection go


# -- URLs, redirects, SSRF -----------------------------------------------------------------


async def test_private_url_refused_unless_allowed(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", recorder(hits)))
    port = base.rsplit(":", 1)[1]
    sleeps = Sleeps()
    for url in (base, f"http://2130706433:{port}", f"http://localhost:{port}"):
        with pytest.raises(InvalidArgument) as caught:
            await make(url, allow_private=False, sleep=sleeps).request("GET", "/x")
        assert caught.value.reason == "PROVIDER_URL_REFUSED"
        assert "private" in caught.value.message
    assert hits == [] and sleeps.waits == []  # refused, not retried
    await make(base, allow_private=True).request("GET", "/x")
    assert len(hits) == 1


async def test_other_hosts_need_https(make: Make) -> None:
    http = make("https://acme.example.com", allow_private=False)
    with pytest.raises(InvalidArgument, match="https"):
        await http.request("GET", "http://files.example.net/a")
    with pytest.raises(InvalidArgument, match="credentials"):
        await http.request("GET", "https://user:pw@files.example.net/a")


async def test_redirects_keep_credentials_on_the_origin_only(serve: Serve, make: Make) -> None:
    other_hits: list[web.Request] = []
    other = await serve(web.get("/landing", recorder(other_hits)))
    hits: list[web.Request] = []

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request)
        target = request.query["to"]
        raise web.HTTPSeeOther(target)

    base = await serve(web.get("/go", redirect), web.get("/landing", recorder(hits)))
    http = make(base, BearerAuth("tok-redirect-1"))

    await http.request("GET", "/go", params={"to": "/landing?x=1"})
    assert hits[1].path == "/landing" and hits[1].query["x"] == "1"
    assert hits[1].headers["Authorization"] == "Bearer tok-redirect-1"

    await http.request("GET", "/go", params={"to": f"{other}/landing"})
    assert len(other_hits) == 1 and "Authorization" not in other_hits[0].headers

    with pytest.raises(TicketingError) as caught:
        await http.request("GET", "/go", params={"to": "/landing"}, allow_redirects=False)
    assert caught.value.reason == "PROVIDER_UNEXPECTED_STATUS"


async def test_base_path_params_and_accept(serve: Serve, make: Make) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/api/v2/tickets", recorder(hits)))
    assert await make(f"{base}/api/v2/").get_json("/tickets", params={"q": "a b"}) == {"ok": True}
    assert hits[0].query["q"] == "a b"
    assert hits[0].headers["Accept"] == "application/json"


# -- session, streaming, uploads ---------------------------------------------------------


async def test_one_pooled_session_closed_by_close(serve: Serve, make: Make) -> None:
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({})

    base = await serve(web.get("/x", handler))
    http = make(base)
    assert http._session is None  # lazily created
    await http.request("GET", "/x")
    session = http.session
    await http.request("GET", "/x")
    assert http.session is session and peers[0] == peers[1]  # keep-alive connection reused
    await http.close()
    assert session.closed
    await http.request("GET", "/x")  # a later call opens a new session
    assert http.session is not session


async def test_stream_delivers_a_large_body_in_chunks(serve: Serve, make: Make) -> None:
    blob = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB
    attempts: list[int] = []

    async def big(request: web.Request) -> web.StreamResponse:
        attempts.append(1)
        if len(attempts) == 1:
            return web.json_response({}, status=503)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for offset in range(0, len(blob), 256 * 1024):
            await response.write(blob[offset : offset + 256 * 1024])
        await response.write_eof()
        return response

    base = await serve(web.get("/big", big))
    http = make(base, sleep=Sleeps())
    digest = hashlib.sha256()
    chunks = 0
    async with http.stream("GET", "/big") as response:
        async for chunk in response.content.iter_chunked(64 * 1024):
            digest.update(chunk)
            chunks += 1
    assert len(attempts) == 2  # the 503 was retried before the body was handed over
    assert digest.digest() == hashlib.sha256(blob).digest()
    assert chunks >= len(blob) // (64 * 1024)
    assert response.closed

    with pytest.raises(NotFound):  # status mapped before the caller sees a body
        async with http.stream("GET", "/missing"):
            pass


async def test_stream_left_early_releases_the_connection(serve: Serve, make: Make) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        with_pause = b"a" * 65536
        for _ in range(200):
            await response.write(with_pause)
        return response

    base = await serve(web.get("/big", big), web.get("/x", recorder([])))
    http = make(base)
    async with http.stream("GET", "/big") as response:
        await response.content.read(1024)
    assert response.closed
    assert (await http.get_json("/x")) == {"ok": True}


async def test_streamed_upload_is_not_retried(serve: Serve, make: Make) -> None:
    received: list[bytes] = []
    hits: list[web.Request] = []

    async def upload(request: web.Request) -> web.Response:
        hits.append(request)
        reader = await request.multipart()
        part = await reader.next()
        assert isinstance(part, aiohttp.BodyPartReader)
        received.append(await part.read())
        status = 503 if len(hits) == 1 else 200
        return web.json_response([{"id": "1"}], status=status)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i};".encode()

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("file", chunks(), filename="a.txt", content_type="text/plain")
        return data

    base = await serve(web.post("/upload", upload))
    sleeps = Sleeps()
    http = make(base, sleep=sleeps)
    with pytest.raises(Unavailable):
        await http.request("POST", "/upload", data=form(), idempotent=None)
    assert len(hits) == 1 and sleeps.waits == []
    response = await http.request("POST", "/upload", data=form())
    assert response.json() == [{"id": "1"}]
    assert received == [b"chunk0;chunk1;chunk2;"] * 2


async def test_debug_log_line_per_request(
    serve: Serve, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    hits: list[web.Request] = []
    base = await serve(web.get("/x", statuses((503, {}), hits=hits)))
    caplog.set_level(logging.DEBUG, logger="ticketing_grpc.providers.http")
    await make(base, sleep=Sleeps()).request("GET", "/x", params={"token": "query-secret"})
    lines = [r.getMessage() for r in caplog.records if r.name == "ticketing_grpc.providers.http"]
    assert len(lines) == 2
    assert lines[0].startswith(f"{PROVIDER} GET /x -> 503 in ") and lines[0].endswith("(attempt 1)")
    assert lines[1].startswith(f"{PROVIDER} GET /x -> 200 in ") and lines[1].endswith("(attempt 2)")
    assert "query-secret" not in caplog.text and "tok-0123456789" not in caplog.text
