"""Run llama.cpp's own HTTP server (from the `xllamacpp` wheel) in a child process.

The server lives in its own process, never in the test process: its C++
threads, OpenMP pool and signal handling then cannot interfere with pytest,
and stopping it is a plain kill by PID.

The child is the product's launcher, `responsa.providers.llamacpp_server`: it
prints the address it listens on (``http://127.0.0.1:PORT``) as its only line on
stdout, logs to stderr, and serves until it is signalled or its stdin closes.

Usage::

    with start_llama_server(model_path) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"


class LlamaServerError(RuntimeError):
    """The server process did not come up (the message ends with its log)."""


@dataclass
class LlamaServer:
    """A running llama.cpp server child process."""

    process: subprocess.Popen[bytes]
    address: str  # http://127.0.0.1:PORT
    alias: str
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible root, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.address}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, n_lines: int = 40) -> str:
        return _tail(self.log_path, n_lines)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child by PID and wait for it (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.process.poll() is None:
                os.kill(self.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.pid, signal.SIGKILL)
                    self.process.wait()
        finally:
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_llama_server(
    model_path: Path | str,
    *,
    alias: str = "tiny",
    n_ctx: int = 8192,
    n_parallel: int = 1,
    startup_timeout: float = 30.0,
) -> LlamaServer:
    """Start llama.cpp's server on `model_path` and wait until /health is 200.

    Raises LlamaServerError, with the tail of the child's log, if the child
    dies or is not healthy within `startup_timeout` seconds.
    """
    model = Path(model_path)
    if not model.is_file():
        raise FileNotFoundError(model)
    fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
    log_path = Path(log_name)
    # The product's own launcher, so the tests exercise what `local/…` runs. It exits by
    # itself when its stdin closes, i.e. when this process dies without calling stop().
    command = [
        sys.executable, "-m", "responsa.providers.llamacpp_server", str(model),
        f"--alias={alias}", f"--n-ctx={n_ctx}", f"--parallel={n_parallel}",
    ]
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
    deadline = time.monotonic() + startup_timeout
    server: LlamaServer | None = None
    try:
        address = _read_address(process, deadline)
        server = LlamaServer(process, address, alias, log_path)
        _wait_healthy(server, deadline)
        return server
    except BaseException as exc:
        tail = _tail(log_path)
        if server is None:
            server = LlamaServer(process, "", alias, log_path)
        server.stop()
        if isinstance(exc, LlamaServerError):
            raise LlamaServerError(f"{exc}\n--- server log (tail) ---\n{tail}") from None
        raise


def _read_address(process: subprocess.Popen[bytes], deadline: float) -> str:
    """The first stdout line of the child: the address it listens on."""
    assert process.stdout is not None
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LlamaServerError("llama.cpp server did not report its address in time")
            if selector.select(remaining):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    code = process.wait()
                    raise LlamaServerError(f"llama.cpp server exited with code {code}")
                buffer += chunk
    address = buffer.split(b"\n", 1)[0].decode().strip()
    if not address.startswith(f"http://{HOST}:"):
        raise LlamaServerError(f"unexpected llama.cpp server address {address!r}")
    return address


def _wait_healthy(server: LlamaServer, deadline: float) -> None:
    url = f"{server.address}/health"
    while True:
        if (code := server.process.poll()) is not None:
            raise LlamaServerError(f"llama.cpp server exited with code {code}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=1.0) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise LlamaServerError(f"{url} did not answer 200 in time")
        time.sleep(0.01)


def _tail(path: Path, n_lines: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n_lines:])
