"""An aiohttp resolver that refuses hosts resolving to loopback or private addresses.

`netguard.check_url` refuses literal private addresses and `localhost` when a
URL is stored; this resolver checks again, at connection time, what a *name*
resolves to, so a public-looking name pointing at 127.0.0.1, 10.0.0.0/8, a
link-local or metadata address cannot be used to reach internal services.

aiohttp does not consult the resolver for literal IP hosts: callers check
those with `check_literal_host` before connecting (the Forwarder does).
Redirects must not be followed (`allow_redirects=False`) for the same reason.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .netguard import is_private_address

__all__ = ["GuardedResolver", "PrivateAddressError", "check_literal_host"]

_HINT = "set TICKETING_ALLOW_PRIVATE_WEBHOOK_TARGETS=1 to allow it"


class PrivateAddressError(OSError):
    """A connection to a loopback, private or link-local address was refused."""

    def __init__(self, message: str) -> None:
        # (errno, strerror): aiohttp's ClientConnectorError shows `strerror`.
        super().__init__(errno.EACCES, message)


def _literal_address(host: str) -> str | None:
    """The IP address `host` spells, or None when it is a name."""
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return host
    # Legacy IPv4 spellings that socket APIs accept: 127.1, 2130706433, 0x7f000001.
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def check_literal_host(host: str, *, allow_private: bool) -> None:
    """Raise PrivateAddressError when `host` is a literal private/loopback address."""
    if allow_private:
        return
    address = _literal_address(host)
    if address is not None and is_private_address(address):
        raise PrivateAddressError(
            f"refusing to connect to {host!r}: a loopback or private address; {_HINT}"
        )


class GuardedResolver(AbstractResolver):
    """Wraps another resolver (aiohttp's default) and refuses private answers.

    A host is refused when *any* of its addresses is loopback, private,
    link-local, multicast or otherwise not global, so a name cannot mix a
    public and an internal address to get through.
    """

    def __init__(
        self, *, allow_private: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver

    @property
    def allow_private(self) -> bool:
        return self._allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        check_literal_host(host, allow_private=self._allow_private)
        if self._resolver is None:
            # Created here, not in __init__: the default resolver wants a running loop.
            self._resolver = DefaultResolver()
        results = await self._resolver.resolve(host, port, family)
        if self._allow_private:
            return results
        for result in results:
            try:
                private = is_private_address(result["host"])
            except ValueError:
                private = True  # not an address at all: do not connect to it
            if private:
                raise PrivateAddressError(
                    f"refusing to connect to {host!r}: it resolves to a loopback or private"
                    f" address ({result['host']}); {_HINT}"
                )
        return results

    async def close(self) -> None:
        if self._resolver is not None:
            await self._resolver.close()
