"""Server processes for the benchmark: start on a free 127.0.0.1 port, wait, measure, stop.

Each server is one process (one uvicorn worker), so its CPU time and peak resident memory are
read straight from ``/proc/<pid>``: CPU seconds per request is a second, contention-proof view
of cost next to wall-clock throughput (wrk and the server share the machine's cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.processes import StartError, free_port, stop, wait_until_answering

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    root: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def peak_rss_mb(self) -> float:
        """Peak resident set size (VmHWM) of the process so far, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for {self.name}")

    def stop(self) -> None:
        stop(self.process, timeout=15)


def start(name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None,
          cwd: Path = REPO, ready_path: str = "/", port: int | None = None) -> Server:
    """Run ``argv`` (``{port}`` filled in), wait until ``ready_path`` answers below 500."""
    port = port or free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_answering(process, server.root + ready_path, log, name=name, timeout=START_TIMEOUT_SECONDS,
                             ready=lambda status: status < 500, interval=0.2, request_timeout=2.0)
    except StartError:
        server.stop()
        raise
    return server


def service(log: Path, workdir: Path) -> Server:
    """The CDS service as shipped (``cds-service serve``, one worker), client auth off."""
    env = {
        "CDS_AUTH_MODE": "off",
        "CDS_FEEDBACK_DB_URL": f"sqlite:///{workdir / 'feedback.sqlite3'}",
        "CDS_FHIR_ALLOWED_HOSTS": "127.0.0.1",  # the local FHIR servers of the fallback stage
        "CDS_FEEDBACK_STATE_DIR": str(workdir / "recorder-state"),
        "PYTHONPATH": str(REPO),
    }
    return start("service", [sys.executable, "-m", "cds_service", "serve", "--port", "{port}"], log,
                 env=env, ready_path="/cds-services")


def floor(log: Path) -> Server:
    """The floor app (``bench.floor``) under uvicorn with its default options, one worker."""
    return start("floor", [sys.executable, "-m", "bench.floor", "--port", "{port}"], log,
                 env={"PYTHONPATH": str(REPO)})
