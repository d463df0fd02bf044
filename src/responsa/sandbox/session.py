"""One container's Python, seen from the server: a long-lived sandboxed REPL (repl.py) that
keeps variables between calls, started on first use and restarted after anything kills it.

Calls are serialized per session. A call that outlives its wall-clock limit kills the whole
sandbox (its process group, and with it the pid namespace) and reports the timeout; the next
call starts a fresh REPL. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from responsa.sandbox.command import Limits, Sandbox

logger = logging.getLogger(__name__)

RESTARTED = "The Python session was restarted: variables and imports of earlier calls are gone."


@dataclass(frozen=True, slots=True)
class Execution:
    logs: str  # what the code printed (stdout and stderr as written), capped
    error: str | None  # its traceback, or why the sandbox stopped it; None: it ran to the end


class Session:
    def __init__(self, sandbox: Sandbox, folder: Path, limits: Limits) -> None:
        self._sandbox = sandbox
        self._folder = folder
        self._limits = limits
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def run(self, code: str) -> Execution:
        async with self._lock:
            process = self._process
            if process is None or process.returncode is not None:
                process = self._process = await self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps({"code": code}).encode() + b"\n")
                await process.stdin.drain()
                reply = await asyncio.wait_for(process.stdout.readline(),
                                               self._limits.timeout_seconds)
            except TimeoutError:
                await self.stop()
                return Execution("", f"TimeoutError: the code ran longer than "
                                     f"{self._limits.timeout_seconds:g} seconds and was "
                                     f"stopped. {RESTARTED}")
            except (ConnectionError, ValueError):  # it died mid-request; a reply over the cap
                reply = b""
            if not reply.endswith(b"\n"):
                return Execution("", await self._ended(process))
            answer = json.loads(reply)
            return Execution(str(answer["logs"]), answer["error"])

    async def stop(self) -> None:
        """Kill the sandbox and everything in it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def _start(self) -> asyncio.subprocess.Process:
        limits = self._limits
        return await asyncio.create_subprocess_exec(
            *self._sandbox.command(self._folder, limits),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={}, start_new_session=True,
            # One reply line: the capped output, JSON-escaped (at most 6 bytes a byte).
            limit=limits.output_bytes * 12 + (64 << 10))

    async def _ended(self, process: asyncio.subprocess.Process) -> str:
        """Why the REPL ended without answering (the next call starts a new one)."""
        await self.stop()
        code = process.returncode
        # bwrap reports its child's death by signal N as the exit status 128 + N.
        if code is not None and code > 128:
            code = 128 - code
        detail = b""
        if process.stderr is not None:
            with contextlib.suppress(TimeoutError):
                detail = await asyncio.wait_for(process.stderr.read(2048), 1)
        if detail:
            logger.info("sandbox ended with %s: %s", code, detail.decode(errors="replace"))
        if code == -signal.SIGXCPU or code == -signal.SIGKILL:
            reason = (f"the session used up its CPU time ({self._limits.cpu_seconds} s) or "
                      "was killed for exceeding a limit")
        elif code is not None and code < 0:
            reason = f"the Python process was killed by signal {-code}"
        else:
            reason = f"the Python process exited (status {code})"
        return f"SandboxError: {reason}. {RESTARTED}"
