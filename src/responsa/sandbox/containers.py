"""Containers: a folder on disk mounted at /mnt/data, the rows describing it and its files,
and the Python session running on it (one per container, started on first use).

A container expires `expires_after.minutes` after its last activity (a call, an upload, a
download): it turns `expired`, its session stops and its folder is deleted; its row stays, as
the real API keeps listing it. Expiry is checked whenever a container is used and swept every
`SWEEP_SECONDS`.

Files reach a container by upload, by `file_id` through `file_source` (the Files API, when the
server has one), or by the code writing under /mnt/data: `run` records what a call wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from responsa.config import CodeInterpreterConfig
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.ids import new_id
from responsa.sandbox import folder
from responsa.sandbox.command import MOUNT_POINT, Limits, Sandbox
from responsa.sandbox.session import Execution, Session
from responsa.store.base import Store
from responsa.store.containers import ContainerFileRow, ContainerRow

logger = logging.getLogger(__name__)

MEMORY_LIMITS = {"1g": 1 << 30, "4g": 4 << 30, "16g": 16 << 30, "64g": 64 << 30}
SWEEP_SECONDS = 60.0

# The Files API hook: a file id → (filename, bytes), None when there is no such file.
FileSource = Callable[[str], Awaitable[tuple[str, bytes] | None]]


def container_not_found(container_id: str, param: str | None = None) -> NotFoundError:
    return NotFoundError(f"Container with id '{container_id}' not found.", param=param)


class Containers:
    def __init__(self, store: Store, config: CodeInterpreterConfig, root: Path,
                 sandbox: Sandbox | None = None) -> None:
        self.store = store
        self._config = config
        self._sandbox = sandbox or Sandbox(config.sandbox_uid)
        self.root = root.absolute()
        self.file_source: FileSource | None = None  # set when the server has a Files API
        # Why code cannot run here (None: it can); known once `start` probed the sandbox.
        self.unavailable: str | None = "not started"
        self._sessions: dict[str, Session] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._config.enabled:
            self.unavailable = "it is disabled ([code_interpreter] enabled = false)"
        else:
            self.unavailable = await asyncio.to_thread(
                self._sandbox.unavailable_reason, self._limits("1g"))
        if self.unavailable is not None:
            logger.warning("code_interpreter is not available: %s", self.unavailable)
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.stop()

    # -- containers ---------------------------------------------------------------------------

    async def create(self, name: str, *, minutes: int | None = None, memory_limit: str = "1g",
                     file_ids: list[str] | tuple[str, ...] = (),
                     file_ids_param: str = "file_ids") -> ContainerRow:
        now = int(time.time())
        row = ContainerRow(new_id("cntr"), name, now, now,
                           minutes or self._config.expires_after_minutes, memory_limit, "running")
        files = [await self._fetch(file_id, f"{file_ids_param}[{n}]")
                 for n, file_id in enumerate(file_ids)]
        await asyncio.to_thread(self._sandbox.prepare_folder, self._folder(row.id))
        await self.store.create_container(row)
        for filename, data in files:
            await self.add_file(row.id, filename, data)
        return row

    async def get(self, container_id: str, *, param: str | None = None) -> ContainerRow:
        """The container (expired now if its time is up); 404 when there is none."""
        row = await self.store.get_container(container_id)
        if row is None:
            raise container_not_found(container_id, param)
        if row.status == "running" and _due(row, int(time.time())):
            await self._expire(container_id)
            row = replace(row, status="expired")
        return row

    async def running(self, container_id: str, *, param: str | None = None) -> ContainerRow:
        """The container, which must not have expired; marked active now."""
        row = await self.get(container_id, param=param)
        if row.status != "running":
            raise InvalidRequestError(
                f"Container '{container_id}' is expired: it was idle longer than its "
                f"expires_after ({row.expires_minutes} minutes) and its files are gone. "
                "Create a new container.", param=param, code="container_expired")
        now = int(time.time())
        await self.store.touch_container(container_id, now)
        return replace(row, last_active_at=now)

    async def delete(self, container_id: str) -> None:
        if not await self.store.delete_container(container_id):
            raise container_not_found(container_id)
        await self._free(container_id)

    # -- files --------------------------------------------------------------------------------

    async def add_file(self, container_id: str, filename: str, data: bytes) -> ContainerFileRow:
        """Upload `data` as /mnt/data/<basename of filename>, replacing a file of that name."""
        name = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if name in ("", ".", ".."):
            raise InvalidRequestError("The file needs a name.", param="file")
        if len(data) > self._config.file_size_mb << 20:
            raise InvalidRequestError(
                f"The file is larger than this server's limit of {self._config.file_size_mb} MB "
                "([code_interpreter] file_size_mb).", param="file")
        path = self._folder(container_id)
        await asyncio.to_thread(self._write, path, name, data)
        stamp = (await asyncio.to_thread(folder.scan, path)).get(name, (len(data), ""))[1]
        return await self.store.put_container_file(ContainerFileRow(
            new_id("cfile"), container_id, f"{MOUNT_POINT}/{name}", len(data), int(time.time()),
            "user", stamp))

    async def add_file_id(self, container_id: str, file_id: str) -> ContainerFileRow:
        filename, data = await self._fetch(file_id, "file_id")
        return await self.add_file(container_id, filename, data)

    async def file(self, container_id: str, file_id: str) -> ContainerFileRow:
        row = await self.store.get_container_file(container_id, file_id)
        if row is None:
            raise NotFoundError(f"File with id '{file_id}' not found in container "
                                f"'{container_id}'.")
        return row

    async def content(self, container_id: str, file_id: str) -> bytes:
        row = await self.file(container_id, file_id)
        data = await asyncio.to_thread(folder.read_file, self._folder(container_id),
                                       _relative(row.path))
        if data is None:  # the code deleted it (or put something other than a file there)
            raise NotFoundError(f"The content of file '{file_id}' is gone from container "
                                f"'{container_id}'.")
        return data

    async def delete_file(self, container_id: str, file_id: str) -> None:
        row = await self.file(container_id, file_id)
        await self.store.delete_container_files(container_id, [file_id])
        await asyncio.to_thread(folder.delete_file, self._folder(container_id),
                                _relative(row.path))

    # -- running code -------------------------------------------------------------------------

    async def run(self, container: ContainerRow,
                  code: str) -> tuple[Execution, list[ContainerFileRow]]:
        """Run `code` in the container's session; the files it created or changed."""
        session = self._sessions.get(container.id)
        if session is None:
            session = self._sessions[container.id] = Session(
                self._sandbox, self._folder(container.id), self._limits(container.memory_limit))
        execution = await session.run(code)
        return execution, await self._record_changes(container.id)

    async def _record_changes(self, container_id: str) -> list[ContainerFileRow]:
        found = await asyncio.to_thread(folder.scan, self._folder(container_id))
        known = {row.path: row for row in await self.store.container_files(container_id)}
        gone = [row.id for path, row in known.items() if _relative(path) not in found]
        await self.store.delete_container_files(container_id, gone)
        changed = []
        for name, (size, stamp) in found.items():
            row = known.get(f"{MOUNT_POINT}/{name}")
            if row is None or row.stamp != stamp:
                changed.append(await self.store.put_container_file(ContainerFileRow(
                    new_id("cfile"), container_id, f"{MOUNT_POINT}/{name}", size,
                    int(time.time()), "assistant", stamp)))
        return changed

    # -- internals ----------------------------------------------------------------------------

    def _folder(self, container_id: str) -> Path:
        return self.root / container_id

    def _limits(self, memory_limit: str) -> Limits:
        config = self._config
        return Limits(
            memory_bytes=min(MEMORY_LIMITS.get(memory_limit, 1 << 30), config.memory_mb << 20),
            cpu_seconds=config.cpu_seconds, file_bytes=config.file_size_mb << 20,
            processes=config.max_processes, timeout_seconds=config.timeout_seconds,
            output_bytes=config.output_kb << 10)

    def _write(self, path: Path, name: str, data: bytes) -> None:
        folder.write_file(path, name, data)
        self._sandbox.hand_over(path / name)

    async def _fetch(self, file_id: str, param: str) -> tuple[str, bytes]:
        found = None if self.file_source is None else await self.file_source(file_id)
        if found is None:
            raise InvalidRequestError(f"No such File object: {file_id}", param=param,
                                      code="invalid_value")
        return found

    async def _expire(self, container_id: str) -> None:
        await self.store.set_container_status(container_id, "expired")
        await self._free(container_id)

    async def _free(self, container_id: str) -> None:
        session = self._sessions.pop(container_id, None)
        if session is not None:
            await session.stop()
        await asyncio.to_thread(folder.remove, self._folder(container_id))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                for container_id in await self.store.due_containers(int(time.time())):
                    await self._expire(container_id)
            except Exception:  # a database hiccup: the next sweep tries again
                logger.exception("sweeping expired containers failed")


def _due(row: ContainerRow, now: int) -> bool:
    return now >= row.last_active_at + row.expires_minutes * 60


def _relative(path: str) -> str:
    return path.removeprefix(MOUNT_POINT + "/")
