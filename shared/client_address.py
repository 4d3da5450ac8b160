"""Who is asking: the client's address and scheme, believing forwarded headers only from the
proxies the operator named (``LUPA_TRUSTED_PROXIES``), so a client cannot pick its own address
to escape a rate limit."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from shared.settings import Network


def client_address(scope: Any, trusted: Sequence[Network]) -> str:
    """The ASGI peer; behind trusted proxies, the rightmost ``X-Forwarded-For`` entry that is
    not itself a trusted proxy (entries further left were written by the client)."""
    client = scope.get("client")
    peer: str = client[0] if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in _header(scope, b"x-forwarded-for").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops else peer


def came_over_https(scope: Any, trusted: Sequence[Network]) -> bool:
    """The request reached Lupa, or the trusted proxy in front of it, over HTTPS."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    if client and trusted and _trusted(client[0], trusted):
        return _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower() == "https"
    return False


def _header(scope: Any, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]
    return ",".join(values)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _trusted(value: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(address in network for network in trusted)
