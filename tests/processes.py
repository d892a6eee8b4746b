"""Local server processes for tests and benchmarks: a free 127.0.0.1 port, waiting until one answers, stopping one.

Free of pytest, so that ``bench`` can use it with only the runtime dependencies installed: a caller
says how a failed start ends (``fail``: ``pytest.fail`` for tests, ``sys.exit`` for a script).
"""

from __future__ import annotations

import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


class StartError(RuntimeError):
    """A server process exited, or did not answer in time, while starting; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(log: Path, chars: int = 3000) -> str:
    """The last ``chars`` characters of a process log (undecodable bytes replaced)."""
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    *,
    name: str,
    timeout: float,
    ready: Callable[[int], bool] = lambda status: status == 200,
    interval: float = 0.1,
    request_timeout: float = 1.0,
) -> None:
    """Poll ``url`` until its status is ``ready``; raise StartError if ``process`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if ready(httpx.get(url, timeout=request_timeout).status_code):
                return
        except httpx.TransportError:
            pass
        time.sleep(interval)
    raise StartError(f"{name} did not answer within {timeout:.0f} s:\n{log_tail(log)}")


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds; the process is reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(
    command: list[str],
    log: Path,
    ready_url: str,
    *,
    name: str,
    timeout: float,
    stop_timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    fail: Callable[[str], object] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (output to ``log``) until the block ends, once ``ready_url`` answers 200.

    A process that exits or stays silent while starting raises StartError, or is handed to ``fail`` as the message.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_answering(process, ready_url, log, name=name, timeout=timeout)
        except StartError as exc:
            if fail is None:
                raise
            fail(str(exc))
        yield process
    finally:
        stop(process, stop_timeout)


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """``server`` answering from a daemon thread until the block ends, then shut down and closed."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
