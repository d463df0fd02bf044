"""The bubblewrap command line that isolates one container's Python.

What the code sees: the system's /usr (read-only; the system Python and its packages, never the
server's venv), /etc/alternatives and the loader cache, a fresh /proc of its own pid namespace, a
minimal /dev, an empty size-capped /tmp, and its container's folder read-write at /mnt/data (the
real API's path). Nothing else of the host: not /etc/passwd, not the data directory around its
folder, not the database.

How it is cut off: new pid, ipc, uts, cgroup and network namespaces (the network one has only a
loopback that nothing listens on), a new session (no terminal to inject keystrokes into), killed
with the server (`--die-with-parent`, and the pid namespace dies with its first process).

Who it runs as: a server running as root starts bwrap without a user namespace and drops to
`sandbox_uid` with setpriv inside it (no capabilities, no_new_privs), so the code is an
unprivileged user of the host kernel; any other server user runs bwrap in a user namespace of its
own (`--unshare-all`), the code keeping that user's uid with no capabilities.

The rlimits (memory, CPU, file size, processes) are applied by the REPL to itself before it runs
any code (repl.py), as hard limits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
MOUNT_POINT = "/mnt/data"
_REPL_SOURCE = (Path(__file__).parent / "repl.py").read_text()
# Top-level system directories python3 may load from; merged-/usr systems have them as links.
_SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Outside /usr, only what shared libraries resolve through (numpy's BLAS via alternatives) and
# the configuration Debian's matplotlib (and the fontconfig it draws text with) reads.
_SYSTEM_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/matplotlibrc", "/etc/fonts")
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": MOUNT_POINT,
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLBACKEND": "Agg",  # matplotlib draws to files
    # Caches go to the private /tmp, not into HOME (the container's files the user sees).
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "XDG_CACHE_HOME": "/tmp/cache",
    "OPENBLAS_NUM_THREADS": "1",  # its per-thread buffers would eat the address-space limit
}


@dataclass(frozen=True, slots=True)
class Limits:
    memory_bytes: int  # RLIMIT_AS of the Python process
    cpu_seconds: int  # RLIMIT_CPU over a session's life
    file_bytes: int  # RLIMIT_FSIZE: the largest file it may write
    processes: int  # RLIMIT_NPROC of its uid
    timeout_seconds: float  # wall clock of one call
    output_bytes: int  # captured output of one call
    tmp_bytes: int = 64 << 20  # size of its /tmp


@dataclass(frozen=True, slots=True)
class Sandbox:
    """How sandboxes are started on this host."""

    uid: int  # the uid the code runs as when the server is root

    @property
    def drops_privileges(self) -> bool:
        return os.geteuid() == 0

    def command(self, folder: Path, limits: Limits) -> list[str]:
        """The argv that runs the REPL on `folder` (mounted at /mnt/data)."""
        argv = ["bwrap"]
        if self.drops_privileges:
            # No user namespace: inside it the uid must be a real host uid to drop to.
            argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                     "--unshare-cgroup-try"]
        else:
            argv += ["--unshare-all"]
        argv += ["--die-with-parent", "--new-session", "--clearenv",
                 "--ro-bind", "/usr", "/usr"]
        for name in _SYSTEM_DIRS:
            path = Path("/", name)
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        # Directories bwrap creates are private to root unless given other permissions.
        argv += ["--perms", "0755", "--dir", "/etc"]
        for system_file in _SYSTEM_FILES:
            if os.path.exists(system_file):
                argv += ["--ro-bind", system_file, system_file]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
                 "--perms", "0755", "--dir", "/mnt",
                 "--bind", str(folder), MOUNT_POINT, "--chdir", MOUNT_POINT]
        for key, value in _ENV.items():
            argv += ["--setenv", key, value]
        if self.drops_privileges:
            argv += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        repl_limits = {"memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds,
                       "file_bytes": limits.file_bytes, "processes": limits.processes,
                       "output_bytes": limits.output_bytes}
        return [*argv, SYSTEM_PYTHON, "-I", "-c", _REPL_SOURCE, json.dumps(repl_limits)]

    def prepare_folder(self, folder: Path) -> None:
        """Create `folder`, writable by the sandboxed uid only."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.drops_privileges:
            os.chown(folder, self.uid, self.uid)

    def hand_over(self, path: Path) -> None:
        """Give a file the server wrote to the sandboxed uid, so the code may change it."""
        if self.drops_privileges:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def unavailable_reason(self, limits: Limits) -> str | None:
        """Why sandboxes cannot run on this host (None: they can), found by starting one."""
        missing = [tool for tool in ("bwrap", *(("setpriv",) if self.drops_privileges else ()))
                   if shutil.which(tool) is None]
        if missing:
            return (f"{' and '.join(missing)} not installed (scripts/install-sandbox.sh "
                    "installs bubblewrap)")
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            return f"{SYSTEM_PYTHON} not found: the sandbox runs the system Python"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp, "probe")
            self.prepare_folder(folder)
            try:
                probe = subprocess.run(
                    self.command(folder, limits), input=b'{"code": "1"}\n',
                    capture_output=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"the sandbox did not start: {exc}"
        if probe.returncode != 0 or b'"1\\n"' not in probe.stdout:
            detail = probe.stderr.decode(errors="replace").strip()[-300:]
            return f"the sandbox did not start (bwrap exited {probe.returncode}): {detail}"
        return None
