"""A real `optatlas serve` on loopback for the browser tests and the workshop load bench:
started in its own process group with its own data directory, waited on until healthy, and
stopped with everything it started (the detached executor and its workers included)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Flags for a sandboxed machine with no network beyond localhost.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ServerFailed(RuntimeError):
    """The server exited or never became healthy; the message holds its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_executor(home: Path) -> None:
    """The server starts a detached executor (it outlives the server on purpose); stop it
    and its workers, which share its process group."""
    try:
        pid = int((home / "executor.lock").read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            os.killpg(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def healthy(url: str) -> bool:
    """Whether the Streamlit server at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def live_server(home: Path, *args: str, env: dict[str, str] | None = None,
                ready_s: float = 90) -> Iterator[str]:
    """`optatlas serve ARGS` with data in `home`; yields its URL."""
    port = free_port()
    environment = {**os.environ, "OPTATLAS_HOME": str(home),
                   "OPTATLAS_DB_URL": f"sqlite:///{home / 'optatlas.db'}", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port),
         "--address", "127.0.0.1", *args],
        cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"server exited early:\n{process.stdout.read()}")
            if healthy(url):
                break
            if time.monotonic() > deadline:
                raise ServerFailed(f"server did not become healthy within {ready_s:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        stop_executor(home)
