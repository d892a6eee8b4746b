"""``cds-service serve`` as a real subprocess on a free 127.0.0.1 port, for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import LOCAL_FHIR_HOSTS
from tests.integration.conftest import fail_test
from tests.processes import free_port, running

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
        "CDS_CARD_REPEAT_WINDOW_SECONDS": "0",  # each call stands alone, as in tests/conftest.py app_settings
        "CDS_FHIR_ALLOWED_HOSTS": ",".join(LOCAL_FHIR_HOSTS),  # the local FHIR test server
        "CDS_FEEDBACK_STATE_DIR": str(tmp_path / "recorder-state"),
        **env,
    }
    log = tmp_path / f"service-{port}.log"
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cds_service", "serve"]
    with running(command, log, f"{url}/healthz", name="the service", timeout=START_TIMEOUT_SECONDS,
                 stop_timeout=15, env=environment, fail=fail_test) as process:
        yield Service(url, process, log)
