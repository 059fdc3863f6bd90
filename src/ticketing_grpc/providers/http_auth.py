"""The credential schemes of the REST layer (see http.py).

An `Auth` supplies the credential headers of a request; `auth_from_credential`
picks one for an integration's Credential.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import quote_plus

from ticketing.v1 import integrations_pb2

from ..errors import InvalidArgument, RateLimited, TicketingError, Unauthenticated, Unavailable

if TYPE_CHECKING:
    from .http import ProviderHTTP


class Auth(Protocol):
    """Supplies the credential headers of a request.

    An implementation may also have a `secrets` attribute (an iterable of
    strings): ProviderHTTP scrubs those, and the header values it sent, from
    every error message.
    """

    async def headers(self, http: ProviderHTTP) -> Mapping[str, str]:
        """The headers to add; may fetch a token through `http`."""
        ...

    def invalidate(self) -> None:
        """Forget any cached token (the provider answered 401)."""
        ...


class BasicAuth:
    """HTTP basic authentication (UTF-8 user:password)."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}
        # The user name too: Freshdesk and Zendesk put an API key there.
        self.secrets: tuple[str, ...] = (password, username, token)

    async def headers(self, http: ProviderHTTP) -> Mapping[str, str]:
        return self._headers

    def invalidate(self) -> None:
        pass


class BearerAuth:
    """A static token: `Authorization: Bearer <token>` by default.

    `prefix` covers other spellings, e.g. PagerDuty's `Token token=`.
    """

    def __init__(
        self, token: str, *, prefix: str = "Bearer ", header: str = "Authorization"
    ) -> None:
        self._headers = {header: f"{prefix}{token}"}
        self.secrets: tuple[str, ...] = (token,)

    async def headers(self, http: ProviderHTTP) -> Mapping[str, str]:
        return self._headers

    def invalidate(self) -> None:
        pass


class HeaderAuth:
    """A provider's own headers (Autotask: ApiIntegrationCode, UserName, Secret).

    `secrets`: the values to scrub from messages; all header values when None.
    """

    def __init__(self, headers: Mapping[str, str], *, secrets: Iterable[str] | None = None) -> None:
        self._headers = dict(headers)
        self.secrets: tuple[str, ...] = tuple(
            self._headers.values() if secrets is None else secrets
        )

    async def headers(self, http: ProviderHTTP) -> Mapping[str, str]:
        return self._headers

    def invalidate(self) -> None:
        pass


class OAuth2ClientCredentials:
    """OAuth 2.0 client credentials grant, the token cached until shortly before expiry.

    `token_url` may be relative to the integration's URL (ServiceNow's
    `/oauth_token.do`) or absolute (another host must use https). The client
    authenticates in the form body (`client_auth="body"`, what ServiceNow,
    PagerDuty and Atlassian accept) or with HTTP basic (`"basic"`); `extra`
    adds form parameters (an `audience`, a `resource`). Concurrent requests
    share one token fetch; a token is refreshed `refresh_margin` seconds (at
    most a tenth of its lifetime) before it expires; one without `expires_in`
    is kept for `default_lifetime`. Token endpoint refusals (4xx) raise
    Unauthenticated with reason PROVIDER_OAUTH_FAILED.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        extra: Mapping[str, str] | None = None,
        client_auth: Literal["body", "basic"] = "body",
        refresh_margin: float = 60.0,
        default_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token_url:
            raise InvalidArgument(
                "the OAuth client credential needs a token_url", reason="INVALID_CREDENTIAL"
            )
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = tuple(scopes)
        self.extra = dict(extra or {})
        self.client_auth = client_auth
        self.refresh_margin = refresh_margin
        self.default_lifetime = default_lifetime
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many tokens were fetched (for tests and metrics)."""
        self._basic = base64.b64encode(
            f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        ).decode("ascii")

    @property
    def secrets(self) -> tuple[str, ...]:
        values = [self._client_secret, self._basic]
        if self._token:
            values.append(self._token)
        return tuple(values)

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def headers(self, http: ProviderHTTP) -> Mapping[str, str]:
        token = self._current()
        if token is None:
            async with self._lock:  # one fetch in flight; the others wait for its token
                token = self._current()
                if token is None:
                    token = await self._fetch(http)
        return {"Authorization": f"Bearer {token}"}

    def invalidate(self) -> None:
        self._token = None

    async def _fetch(self, http: ProviderHTTP) -> str:
        form = {"grant_type": "client_credentials", **self.extra}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            headers["Authorization"] = f"Basic {self._basic}"
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._client_secret
        started = self._clock()
        try:
            response = await http.request(
                "POST",
                self.token_url,
                data=form,
                headers=headers,
                authenticate=False,
                idempotent=True,  # asking for a token again changes nothing
            )
        except TicketingError as exc:
            if exc.metadata.get("http_status", "").startswith("4") and not isinstance(
                exc, RateLimited
            ):
                raise Unauthenticated(
                    f"the OAuth token request was refused: {exc.message}",
                    reason="PROVIDER_OAUTH_FAILED",
                    metadata=exc.metadata,
                ) from None
            raise
        payload = response.json()
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise Unavailable(
                f"{http.provider_id} token endpoint answered without an access_token",
                reason="PROVIDER_BAD_RESPONSE",
                metadata={"provider": http.provider_id, "http_status": str(response.status)},
            )
        lifetime = self.default_lifetime
        with suppress(TypeError, ValueError):
            lifetime = float(payload.get("expires_in", lifetime))
        if not math.isfinite(lifetime) or lifetime <= 0:
            lifetime = self.default_lifetime
        self._token = token
        self._expires_at = started + lifetime - min(self.refresh_margin, lifetime / 10)
        self.fetches += 1
        return token


def auth_from_credential(
    credential: integrations_pb2.Credential,
    *,
    default_token_url: str = "",
    scopes: Sequence[str] = (),
    token_prefix: str = "Bearer ",
) -> Auth:
    """The Auth for an integration's Credential.

    basic -> BasicAuth, token -> BearerAuth (`token_prefix`), oauth_client ->
    OAuth2ClientCredentials (its token_url, else `default_token_url`; its scopes,
    else `scopes`), autotask -> HeaderAuth with ApiIntegrationCode, UserName and
    Secret. The returned object's `secrets` lists the values to scrub.
    """
    kind = credential.WhichOneof("credential")

    def need(value: str, what: str) -> str:
        if not value:
            raise InvalidArgument(f"the credential has no {what}", reason="INVALID_CREDENTIAL")
        return value

    if kind == "basic":
        return BasicAuth(need(credential.basic.username, "username"), credential.basic.secret)
    if kind == "token":
        return BearerAuth(need(credential.token.secret, "token"), prefix=token_prefix)
    if kind == "oauth_client":
        oauth = credential.oauth_client
        return OAuth2ClientCredentials(
            oauth.token_url or default_token_url,
            need(oauth.client_id, "client_id"),
            need(oauth.client_secret, "client_secret"),
            tuple(oauth.scopes) or tuple(scopes),
        )
    if kind == "autotask":
        autotask = credential.autotask
        code = need(autotask.api_integration_code, "api_integration_code")
        secret = need(autotask.secret, "secret")
        return HeaderAuth(
            {
                "ApiIntegrationCode": code,
                "UserName": need(autotask.username, "username"),
                "Secret": secret,
            },
            secrets=(secret, code),
        )
    raise InvalidArgument("the integration has no credential", reason="INVALID_CREDENTIAL")
