"""Container folders on the host, handled without trusting what the sandboxed code put there.

The code may plant symbolic links (`/mnt/data/x -> /etc/shadow`), FIFOs, or a million files, and
everything here runs as the server (root, often). So each path is opened one component at a
time from the folder's own descriptor with `O_NOFOLLOW`, only regular files are read, a file is
written by replacing whatever has its name, and a scan stops at `MAX_FILES`. Names are relative
to the folder, as they appear under /mnt/data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

MAX_FILES = 1000  # files a scan reports; more are ignored
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(ValueError):
    """A name that is not a plain relative path inside the folder."""


def clean_name(name: str) -> str:
    """`name` as a relative path with no empty, `.` or `..` components."""
    parts = [part for part in name.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts) or "\0" in name:
        raise UnsafePath(name)
    return "/".join(parts)


@contextlib.contextmanager
def _parent(root: Path, name: str) -> Iterator[tuple[int, str]]:
    """The descriptor of the directory holding `name` (no link followed), and its last part."""
    *dirs, last = clean_name(name).split("/")
    fd = os.open(root, _DIR)
    try:
        for part in dirs:
            child = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd, last
    finally:
        os.close(fd)


def read_file(root: Path, name: str) -> bytes | None:
    """The bytes of regular file `name`; None if there is none (or something else is there)."""
    try:
        with _parent(root, name) as (parent, last):
            # O_NONBLOCK: opening a FIFO the code left must not hang the server.
            fd = os.open(last, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=parent)
    except (OSError, UnsafePath):
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return file.read()


def write_file(root: Path, name: str, data: bytes) -> None:
    """Write `data` as the top-level file `name`, replacing whatever had that name."""
    with _parent(root, name) as (parent, last):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(last, dir_fd=parent)
        fd = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=parent)
        with os.fdopen(fd, "wb") as file:
            file.write(data)


def delete_file(root: Path, name: str) -> None:
    with contextlib.suppress(OSError, UnsafePath), _parent(root, name) as (parent, last):
        os.unlink(last, dir_fd=parent)


def scan(root: Path) -> dict[str, tuple[int, str]]:
    """The regular files under `root` (links neither followed nor reported): name → (size,
    stamp), the stamp changing whenever a file is rewritten."""
    found: dict[str, tuple[int, str]] = {}
    if not root.is_dir():
        return found
    for directory, _dirs, files, dir_fd in os.fwalk(root):
        for name in files:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                relative = os.path.relpath(os.path.join(directory, name), root)
                found[relative] = (info.st_size, f"{info.st_size}:{info.st_mtime_ns}")
                if len(found) >= MAX_FILES:
                    return found
    return found


def remove(root: Path) -> None:
    """Delete the folder and everything in it (links removed, never followed)."""
    shutil.rmtree(root, ignore_errors=True)
