"""``cds-service serve`` as a real subprocess on a free 127.0.0.1 port, for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_SECONDS = 30.0


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_service(tmp_path: Path, **env: str) -> Iterator[Service]:
    """Start the service with ``CDS_*`` settings ``env``; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        "CDS_HOST": "127.0.0.1",
        "CDS_PORT": str(port),
        "CDS_AUTH_MODE": "off",
        "CDS_FEEDBACK_DB_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CDS_LOG_JSON": "false",
        **env,
    }
    log = tmp_path / f"service-{port}.log"
    command = [sys.executable, "-m", "cds_service", "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(service)
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(service: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"the service exited with {service.process.returncode}:\n{service.output()[-3000:]}", pytrace=False)
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the service did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{service.output()[-3000:]}", pytrace=False)
