"""Which network addresses the FHIR client may connect to: the guard against server-side request forgery.

A ``fhirServer`` is the client's to choose, and the service sends it a bearer token. Unless its
host is listed in ``CDS_FHIR_ALLOWED_HOSTS``, every address it resolves to must be public: loopback,
private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused, IPv4-mapped and 6to4/Teredo IPv6 forms included. The check runs
at connect time, on the addresses actually connected to (``GuardedBackend``), so neither another
spelling of an address (``0x7f000001``, ``[::ffff:127.0.0.1]``) nor DNS that answers differently
the second time gets past it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection, Iterable
from typing import Any

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(httpcore.ConnectError):
    """The host resolved to an address the service may not call."""


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (after unwrapping IPv4 inside IPv6)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


def host_listed(host: str, port: int, allowed: Collection[str]) -> bool:
    """Whether ``host`` (or ``host:port``) is in ``allowed`` (lower-case entries)."""
    name = host.lower().strip("[]").rstrip(".")
    return name in allowed or f"{name}:{port}" in allowed or f"[{name}]:{port}" in allowed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves each host itself and connects only to allowed addresses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, allowed_hosts: Iterable[str]) -> None:
        self.inner = inner
        self.allowed = frozenset(host.lower() for host in allowed_hosts)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host_listed(host, port, self.allowed):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await self._resolve(host, port, timeout)
        if not addresses or not all(is_public(address) for address in addresses):
            raise AddressRefused("fhirServer resolves to an address that is not allowed")
        last: Exception | None = None
        for address in addresses:  # connect to the very addresses checked
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last = error
        assert last is not None
        raise last

    @staticmethod
    async def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise httpcore.ConnectError(f"cannot resolve fhirServer host: {type(error).__name__}") from None
        found: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        return found

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
