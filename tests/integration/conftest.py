"""Integration fixtures: a real in-memory FHIR server (tests/fhir_server) on 127.0.0.1.

``fhir_server`` (session) installs the server's npm packages if needed, starts
``node server.js`` on a free port, waits until it answers and yields its FHIR base URL.
``fhir_admin`` drives the server's admin API (faults, request log) and clears faults and
the request log after each test. A missing ``node`` or ``npm`` fails the tests: never a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port, running

SERVER_DIR = Path(__file__).resolve().parents[1] / "fhir_server"
MIN_NODE = (20, 19)
START_TIMEOUT_SECONDS = 60.0


def fail_test(message: str) -> None:
    """Fail the test with ``message`` alone: a server that does not start is a failure, never a skip."""
    pytest.fail(message, pytrace=False)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"`{tool}` is not on PATH. The integration tests run a real FHIR server from "
            f"{SERVER_DIR} and need Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]} with npm "
            "(Debian: apt-get install nodejs npm).",
            pytrace=False,
        )
    return path


def _check_node_version(node: str) -> None:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    if match is None or (int(match[1]), int(match[2])) < MIN_NODE:
        pytest.fail(
            f"Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]} is needed for the FHIR server, found {out!r}", pytrace=False
        )


def _install(npm: str) -> None:
    if (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=SERVER_DIR, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        pytest.fail(f"`npm ci` in {SERVER_DIR} failed:\n{done.stderr[-3000:]}", pytrace=False)


@contextmanager
def running_fhir_server(node: str, log: Path) -> Iterator[str]:
    """``node server.js`` on a free port until the block ends; yields its root URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with running([node, "server.js", "--port", str(port)], log, f"{root}/__health", name="the FHIR server",
                 timeout=START_TIMEOUT_SECONDS, stop_timeout=10, cwd=SERVER_DIR, fail=fail_test):
        yield root


@contextmanager
def fhir_server_process(log: Path) -> Iterator[str]:
    """A new in-memory FHIR server (npm packages installed if needed) until the block ends; yields its FHIR base URL."""
    node, npm = _require("node"), _require("npm")
    _check_node_version(node)
    _install(npm)
    with running_fhir_server(node, log) as root:
        yield f"{root}/fhir"


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/fhir``) of a running in-memory FHIR server."""
    with fhir_server_process(tmp_path_factory.mktemp("fhir-server") / "server.log") as base:
        yield base


class FhirServerAdmin:
    """The test FHIR server's admin API (see tests/fhir_server/README.md)."""

    def __init__(self, fhir_base: str) -> None:
        self.root = fhir_base.removesuffix("/fhir")

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """Add one fault (``match``, ``times``, ``delayMs``, ``status`` …); returns it with its id."""
        response = httpx.post(f"{self.root}/__faults", json=fault)
        response.raise_for_status()
        return dict(response.json())

    def clear_faults(self) -> None:
        httpx.delete(f"{self.root}/__faults").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """The FHIR requests the server saw since the last clear, oldest first."""
        response = httpx.get(f"{self.root}/__requests")
        response.raise_for_status()
        return list(response.json()["requests"])

    def clear_requests(self) -> None:
        httpx.delete(f"{self.root}/__requests").raise_for_status()


@pytest.fixture
def fhir_admin(fhir_server: str) -> Iterator[FhirServerAdmin]:
    """The admin API of ``fhir_server``; faults and the request log are cleared around each test."""
    admin = FhirServerAdmin(fhir_server)
    admin.clear_faults()
    admin.clear_requests()
    yield admin
    admin.clear_faults()
    admin.clear_requests()
