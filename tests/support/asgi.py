"""The suite's in-process HTTP servers (scripted upstreams, search backends, the MCP server):
each is an ASGI app served by uvicorn in a thread, on 127.0.0.1 and a port of its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

import uvicorn


class ThreadedAsgiServer:
    """Subclasses are the ASGI app (`__call__`); `start` serves it, `stop` ends it."""

    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self, log_level="critical", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


ServerT = TypeVar("ServerT", bound=ThreadedAsgiServer)


@contextmanager
def running(server: ServerT) -> Iterator[ServerT]:
    """`server` served for the `with` block."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def answer_lifespan(receive: Any, send: Any) -> None:
    """Start up and shut down with nothing to do."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
