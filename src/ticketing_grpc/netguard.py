"""Refuse URLs that point at loopback or private addresses.

Webhook targets and provider URLs are chosen by API callers; without this
check the server could be made to reach services on its own network (SSRF).
Literal addresses and `localhost` names are checked when a URL is stored;
resolved addresses are checked again when a connection is made.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import InvalidArgument


def is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str, *, what: str, allow_private: bool) -> None:
    """Raise InvalidArgument unless `url` is an absolute http(s) URL that may be used."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidArgument(f"{what} is not a valid URL: {exc}") from None
    if parts.username or parts.password:
        raise InvalidArgument(f"{what} must not carry credentials in the URL")
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidArgument(f"{what} must be an absolute http(s) URL, got {url!r}")
    if allow_private:
        return
    host = host.rstrip(".")  # `localhost.` is localhost
    if host == "localhost" or host.endswith(".localhost"):
        private = True
    else:
        try:
            private = is_private_address(host)
        except ValueError:
            # Legacy IPv4 spellings resolvers accept: 127.1, 2130706433, 0x7f000001.
            try:
                packed = socket.inet_aton(host)
            except OSError:
                return
            private = is_private_address(socket.inet_ntoa(packed))
    if private:
        raise InvalidArgument(
            f"{what} {url!r} points to a loopback or private address; "
            "set TICKETING_ALLOW_PRIVATE_WEBHOOK_TARGETS=1 to allow it"
        )
