"""Process helpers shared by the benchmark scripts: start, measure and stop by PID via /proc.

Linux only, no psutil: CPU time comes from /proc/PID/task/*/schedstat (nanoseconds, live threads)
cross-checked with /proc/PID/stat (clock ticks, includes threads that have exited).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSample:
    user_s: float  # from /proc/PID/stat, tick resolution (usually 10 ms)
    sys_s: float
    exact_s: float  # sum of schedstat runtimes of live threads, ns resolution


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tasks:
        with contextlib.suppress(FileNotFoundError):
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out.extend(int(c) for c in children.split())
    return out


def tree(pid: int) -> list[int]:
    """The PID and all its descendants: a wrapper command (e.g. a shell or `uv run`) is measured
    together with the real server it starts."""
    seen = [pid]
    i = 0
    while i < len(seen):
        seen.extend(_children(seen[i]))
        i += 1
    return seen


def cpu(pid: int) -> CpuSample:
    user = system = exact = 0.0
    for p in tree(pid):
        try:
            # The command name (field 2) may contain spaces: split after its closing parenthesis.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / _TICK
            system += int(fields[12]) / _TICK
            for tid in os.listdir(f"/proc/{p}/task"):
                exact += int(Path(f"/proc/{p}/task/{tid}/schedstat").read_text().split()[0]) / 1e9
        except (FileNotFoundError, ProcessLookupError):
            pass  # the process exited between listing and reading
    return CpuSample(user, system, exact)


def cpu_delta(before: CpuSample, after: CpuSample) -> tuple[float, float, float]:
    """(user, sys, total) seconds between two samples. The total is the ns-precise schedstat
    figure unless threads exited in between (ticks then exceed it by more than tick jitter)."""
    user = after.user_s - before.user_s
    system = after.sys_s - before.sys_s
    exact = after.exact_s - before.exact_s
    total = user + system if (user + system) - exact > 3 / _TICK else exact
    return user, system, total


def rss_kb(pid: int) -> int:
    """Resident set size of the process tree, in KiB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except FileNotFoundError:
            pass
    return total


def settle(pid: int, quiet_s: float = 0.0005, step_s: float = 0.05, limit_s: float = 3.0) -> None:
    """Wait until the process tree stops burning CPU, so work done after the last response (e.g.
    a deferred store write) is counted in the sample taken next."""
    deadline = time.monotonic() + limit_s
    last = cpu(pid).exact_s
    while time.monotonic() < deadline:
        time.sleep(step_s)
        now = cpu(pid).exact_s
        if now - last < quiet_s:
            return
        last = now


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for servers that cannot report the one they bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def read_line(proc: subprocess.Popen[bytes], timeout_s: float, what: str = "child") -> str:
    """One line from a child's stdout, or a RuntimeError if it exits or stays silent."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    buf = b""
    fd = proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{what} (pid {proc.pid}): no output within {timeout_s:.0f}s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            # Byte by byte: never read past the line, the rest belongs to later reads.
            b = os.read(fd, 1)
            if not b:
                raise RuntimeError(f"{what} (pid {proc.pid}) exited with {proc.wait()}")
            buf += b
    return buf.decode().strip()


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None


def stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Stop a child and its descendants by PID: SIGTERM, then SIGKILL after the grace period.
    A PID is signalled only while its start time is unchanged, so a recycled PID is never hit."""
    if proc.poll() is not None:
        return
    pids = [(p, _start_time(p)) for p in tree(proc.pid)]

    def signal_all(sig: signal.Signals) -> None:
        for p, started in reversed(pids):
            if started is not None and _start_time(p) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, sig)

    signal_all(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    signal_all(signal.SIGKILL)
    proc.wait()
