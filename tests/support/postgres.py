"""A throwaway PostgreSQL cluster for tests, from the Debian server binaries.

`start_postgres()` runs initdb into a temp dir and starts `postgres` on 127.0.0.1 at a free port
(its unix socket in the same temp dir), creates a database and returns its DSN; `.stop()` stops
the server by its PID and removes the dir. Set RESPONSA_TEST_POSTGRES_DSN to use an existing
server instead. Install the binaries with scripts/install-postgres.sh.

Root cannot run PostgreSQL, so as root the cluster belongs to, and runs as, the `postgres`
user (or `nobody`).
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DSN_ENV = "RESPONSA_TEST_POSTGRES_DSN"
DATABASE = "responsa_test"
_PR_SET_PDEATHSIG = 1


@dataclass
class RunningPostgres:
    dsn: str
    pid: int | None = None  # None: a server we did not start, and will not stop
    directory: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by PID, SIGKILL if it hangs; then remove the cluster."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def start_postgres(*, timeout: float = 60.0) -> RunningPostgres:
    """A running server with an empty database `responsa_test`, or the one named by the env."""
    if dsn := os.environ.get(DSN_ENV):
        return RunningPostgres(dsn=dsn)

    bindir = _find_bindir()
    directory = Path(tempfile.mkdtemp(prefix="responsa-pg-"))
    user = _server_user()
    data, sockets, log = directory / "data", directory / "sock", directory / "server.log"
    sockets.mkdir()
    if user is not None:
        _chown_tree(directory, user)
    run_as = _demote(user)

    try:
        subprocess.run(
            [
                str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
            ],
            check=True, capture_output=True, preexec_fn=run_as,
        )  # fmt: skip
        port = _free_port()
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [
                    str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                    "-c", "listen_addresses=127.0.0.1",
                    # A disposable cluster: durability buys nothing here, speed does.
                    "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off", "-c", "max_connections=200",
                ],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                preexec_fn=run_as,
            )  # fmt: skip
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = RunningPostgres(
        dsn=f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}",
        pid=process.pid,
        directory=directory,
        _process=process,
    )
    try:
        _wait_ready(bindir, port, process, log, timeout)
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             DATABASE],
            check=True, capture_output=True,
        )  # fmt: skip
    except BaseException:
        server.stop()
        raise
    return server


def _find_bindir() -> Path:
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    raise RuntimeError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run "
        f"scripts/install-postgres.sh, or set {DSN_ENV} to an existing server's DSN"
    )


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, but neither a 'postgres' nor a 'nobody' user exists")


def _chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)


def _demote(user: pwd.struct_passwd | None) -> Callable[[], None]:
    """Runs in the child before exec: drop to `user`, and die with the test process."""
    libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None

    def run() -> None:
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        if libc is not None:
            # After setuid, which clears it. SIGQUIT: immediate shutdown if pytest is killed,
            # so no server outlives the run.
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)

    return run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(
    bindir: Path, port: int, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{_tail(log)}")
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"postgres not ready after {timeout}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"
