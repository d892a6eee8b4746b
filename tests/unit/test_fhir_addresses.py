"""The FHIR client's address guard: no bearer token to loopback, private, link-local or metadata addresses."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import pytest

from cds_service.fhir.addresses import host_listed, is_public
from cds_service.fhir.client import FhirClient, create_http_client
from cds_service.fhir.errors import FhirRefused, FhirServerError
from cds_service.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
     "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "fe80::1", "fd00:ec2::254", "2002:7f00:1::", "::"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    """Loopback, private, link-local, metadata, CGNAT, multicast and unspecified addresses, in any IPv6 wrapping, are not public."""
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    """Public unicast addresses pass the guard."""
    assert is_public(ipaddress.ip_address(address))


def test_host_listing_matches_host_or_host_and_port() -> None:
    """A listed host matches with any port, a listed host:port only on that port; case and a final dot do not matter."""
    assert host_listed("LocalHost.", 8080, {"localhost"})
    assert host_listed("127.0.0.1", 8080, {"127.0.0.1:8080"})
    assert not host_listed("127.0.0.1", 8081, {"127.0.0.1:8080"})
    assert host_listed("::1", 8080, {"[::1]:8080"})


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP listener on 127.0.0.1 (IPv4, also reached as ::ffff:127.0.0.1 where mapped) counting connections."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, accepted


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_loopback_in_any_spelling_is_refused_before_connecting(
    listener: tuple[int, list[int]], host: str
) -> None:
    """By default a fhirServer resolving to loopback is refused (reason `refused`) without a connection being opened."""
    port, accepted = listener
    settings = Settings(prefetch_deadline_seconds=2.0)
    async with create_http_client(settings) as http:
        client = FhirClient.from_settings(http, settings)
        with pytest.raises(FhirRefused, match="address not allowed"):
            await client.read(f"https://{host}:{port}/fhir", "Patient/p1", "secret-token")
    assert accepted == []


async def test_listed_host_may_be_loopback(listener: tuple[int, list[int]]) -> None:
    """A host listed in CDS_FHIR_ALLOWED_HOSTS is called even on a loopback address."""
    port, accepted = listener
    settings = Settings(prefetch_deadline_seconds=2.0, fhir_allowed_hosts=["127.0.0.1"])
    async with create_http_client(settings) as http:
        client = FhirClient.from_settings(http, settings)
        with pytest.raises(FhirServerError):  # the listener hangs up: what matters is that it was reached
            await client.read(f"http://127.0.0.1:{port}/fhir", "Patient/p1", "secret-token")
    assert accepted == [1]
