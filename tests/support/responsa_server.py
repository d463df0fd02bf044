"""Runs `responsa serve` as a real process on a real socket, as users run it."""

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningResponsa:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_responsa(*args: str, log_path: Path, env: dict[str, str] | None = None,
                   timeout: float = 30.0) -> RunningResponsa:
    port = free_port()
    command = [sys.executable, "-m", "responsa", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", *args]
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    server = RunningResponsa(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"responsa exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"responsa did not become ready:\n{server.log()}")


@contextmanager
def serving(
    tmp: Path, config_text: str, *, database: str | None = None
) -> Iterator[RunningResponsa]:
    """responsa on a configuration of its own, stopped by PID when the block ends."""
    config = tmp / "responsa.toml"
    config.write_text(config_text)
    server = start_responsa("--config", str(config), "--database",
                            database or f"sqlite:///{tmp}/responsa.db",
                            log_path=tmp / "responsa.log")
    try:
        yield server
    finally:
        server.stop()
