"""Memory and connection attacks on the real server (``cds-service serve`` on 127.0.0.1): peak RSS stays
under ``RSS_LIMIT_MB``, ``/healthz`` answers throughout, and clients get a status they can read."""

from __future__ import annotations

import gzip
import json
import http.server
import socket
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from cds_service.fixtures import hook_request
from tests.conftest import bearer_authorization
from tests.integration.service_process import Service, running_service
from tests.processes import serving

pytestmark = pytest.mark.integration

RSS_LIMIT_MB = 300  # the pod's limit is 512 Mi; one request must never come near it
SERVICE_PATH = "/cds-services/neck-pain-order-select"


def peak_rss_mb(service: Service) -> float:
    """The service process's peak resident set size so far (VmHWM), in MB."""
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def healthy(service: Service) -> bool:
    return httpx.get(service.url + "/healthz", timeout=5).status_code == 200


def connect(service: Service) -> socket.socket:
    host, port = service.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def gzip_bomb(megabytes: int) -> bytes:
    """gzip inside gzip (``Content-Encoding: gzip, gzip``) of ``megabytes`` MB of zeros: a few KB on the wire.
    The inner stream repeats one byte-aligned deflate block per MB (its trailer is left out: a
    reader has spent the memory before it would get there)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    return gzip.compress(first + block * (megabytes - 1))


@contextmanager
def bomb_server(payload: bytes, encoding: str) -> Iterator[str]:
    """A hostile FHIR server on 127.0.0.1 answering every GET with ``payload``; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with suppress(OSError):
                self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"


def test_gzip_bomb_from_the_fhir_server_stays_small_and_within_the_deadline(tmp_path: Path) -> None:
    """A FHIR server answering every query with a 1 GB gzip-in-gzip bomb costs the service little memory, and the call answers within the deadline."""
    body = hook_request("v9b-bed-rest-and-mri", with_prefetch=False)
    with bomb_server(gzip_bomb(1024), "gzip, gzip") as base, running_service(
        tmp_path, CDS_PREFETCH_DEADLINE_SECONDS="2"
    ) as service:
        body["fhirServer"], body["fhirAuthorization"] = base, bearer_authorization("t")
        started = time.monotonic()
        response = httpx.post(service.url + SERVICE_PATH, json=body, timeout=30)
        elapsed = time.monotonic() - started
        assert healthy(service)
        peak = peak_rss_mb(service)
    assert response.status_code == 412  # the Patient could not be read
    assert elapsed < 2 + 1.5
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_huge_preview_body_is_refused_without_buffering(tmp_path: Path) -> None:
    """A 200 MB POST to /preview/api/evaluate (declared or chunked) is answered 413 without the service holding it."""
    chunk = b" " * (1 << 20)
    with running_service(tmp_path) as service:
        with connect(service) as sock:
            sock.sendall(b"POST /preview/api/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 209715200\r\n\r\n")  # fmt: skip
            with suppress(OSError):
                for _ in range(200):
                    sock.sendall(chunk)
            status = sock.recv(100)

        def chunked() -> Iterator[bytes]:
            for _ in range(200):
                yield chunk

        with suppress(httpx.TransportError):
            streamed = httpx.post(service.url + "/preview/api/evaluate", content=chunked(), timeout=20).status_code
            assert streamed == 413
        assert healthy(service)
        peak = peak_rss_mb(service)
    assert status.startswith(b"HTTP/1.1 413")
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_huge_header_is_refused_before_parsing(tmp_path: Path) -> None:
    """A 100 MB Authorization header is answered 431 after the header limit, fast and without the service holding it."""
    started = time.monotonic()
    with running_service(tmp_path) as service:
        with connect(service) as sock:
            sock.sendall(f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".encode())
            with suppress(OSError):
                for _ in range(100):
                    sock.sendall(b"a" * (1 << 20))
            answer = sock.recv(100)
        assert healthy(service)
        peak = peak_rss_mb(service)
    assert answer.startswith(b"HTTP/1.1 431")
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert time.monotonic() - started < 20


def test_many_slow_large_bodies_are_bounded_across_requests(tmp_path: Path) -> None:
    """100 connections each holding a 4.9 MB body short of its end keep the service's memory bounded (503 beyond the budget), and /healthz answers meanwhile."""
    size = 4_900_000
    head = (f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()  # fmt: skip
    almost = b" " * (size - 1)
    with running_service(tmp_path) as service:
        sockets = []
        try:
            for _ in range(100):
                sock = connect(service)
                sockets.append(sock)
                with suppress(OSError):
                    sock.sendall(head + almost)  # the last byte never comes
            assert healthy(service)
            time.sleep(0.5)
            peak = peak_rss_mb(service)
            answers = []
            for sock in sockets:
                sock.settimeout(0.2)
                with suppress(OSError):
                    answers.append(sock.recv(20))
        finally:
            for sock in sockets:
                sock.close()
        assert healthy(service)
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert any(answer.startswith(b"HTTP/1.1 503") for answer in answers)


def test_413_is_readable_by_a_client_that_sends_its_whole_body_first(tmp_path: Path) -> None:
    """urllib sends its whole 6 MB body with Connection: close before reading, and still reads the 413 OperationOutcome."""
    body = b"{" + b" " * 6_000_000 + b"}"
    with running_service(tmp_path) as service:
        request = urllib.request.Request(service.url + SERVICE_PATH, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Connection": "close"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=20)
    assert answer.value.code == 413
    assert b"OperationOutcome" in answer.value.read()


def test_slow_header_connection_times_out(tmp_path: Path) -> None:
    """A connection that never finishes its request head is answered 408 and closed after CDS_HEADER_TIMEOUT_SECONDS."""
    with running_service(tmp_path, CDS_HEADER_TIMEOUT_SECONDS="1") as service:
        with connect(service) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(5)
            started = time.monotonic()
            answer = read_all(sock)  # until the server closes the connection (or the 5 s timeout)
            waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408") and b"OperationOutcome" in answer
    assert waited < 3  # answered and closed, not left open until the client gives up


def read_all(sock: socket.socket) -> bytes:
    out = b""
    with suppress(OSError):
        while chunk := sock.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", b"400"),
        (b"Content-Length: abc\r\n\r\n{}", b"400"),
        (b"X-Long: " + b"a" * 40_000 + b"\r\nContent-Length: 2\r\n\r\n{}", b"431"),
    ],
    ids=["invalid chunked encoding", "non-numeric Content-Length", "headers over the limit"],
)
def test_broken_framing_is_answered_with_an_operation_outcome(tmp_path: Path, framing: bytes, status: bytes) -> None:
    """A request the HTTP parser cannot read gets a FHIR OperationOutcome like every other error, not uvicorn's plain text."""
    with running_service(tmp_path) as service:
        with connect(service) as sock:
            sock.sendall(f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: x\r\n".encode() + framing)
            head, _, body = read_all(sock).partition(b"\r\n\r\n")
        assert healthy(service)
    assert head.startswith(b"HTTP/1.1 " + status)
    assert b"content-type: application/fhir+json" in head.lower()
    assert json.loads(body)["resourceType"] == "OperationOutcome"
