"""Profile one server process under the benchmark's workloads: cProfile, or callgrind's
instruction counts.

    python benchmarks/profile_server.py cprofile [--stream] [--requests 2000] [--out prof.out]
    python benchmarks/profile_server.py callgrind [--requests 200] [--stream-requests 12]
        [--target responsa|standin]

`cprofile` runs `python -m cProfile -o OUT -m responsa serve …` against the fake upstream, then
prints the functions with the most own time. The warm-up is profiled too (cProfile cannot be
paused from outside), and cProfile makes every Python call dearer: read call counts and the
split between functions, not absolute times.

`callgrind` runs the target under `valgrind --tool=callgrind` (apt: valgrind), warms it up,
zeroes the counters, runs each workload and dumps them: instructions executed per request, all
threads, user space only. Unlike CPU time these repeat within ~1 % on a busy machine, so a
change worth 3 % shows. The server runs ~50x slower under valgrind, so the load is light
(C=4) and the upstream paces tokens at 20 ms, keeping each chunk its own read as at full
speed. Kernel time (syscalls, wake-ups) is not counted: confirm with `run.py`.
"""

from __future__ import annotations

import argparse
import pstats
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import _proc
import run

HERE = Path(__file__).resolve().parent


def loadgen(port: int, stream: bool, requests: int, concurrency: int, timeout: float) -> None:
    argv = [sys.executable, str(HERE / "loadgen.py"), "--url", f"http://127.0.0.1:{port}",
            "--requests", str(requests), "--concurrency", str(concurrency),
            "--timeout", str(timeout)]
    out = subprocess.run([*argv, "--stream"] if stream else argv, check=True,
                         capture_output=True, text=True).stdout
    if '"errors":0' not in out:
        raise SystemExit(f"loadgen failed: {out}")


def cprofile(args: argparse.Namespace, tmp: Path, up_port: int) -> None:
    out = Path(args.out).resolve()
    cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "responsa"]
    port = _proc.free_port()
    server = run.start_target(cmd, ["--log-level", "warning"], port, tmp / "bench.db",
                              up_port, tmp / "server.log", 60)
    try:
        loadgen(port, args.stream, 2 * args.concurrency, args.concurrency, 120)
        loadgen(port, args.stream, args.requests, args.concurrency, 120)
        server.send_signal(signal.SIGINT)  # a clean exit, so that cProfile writes its file
        server.wait(30)
    finally:
        _proc.stop(server)
    pstats.Stats(str(out)).sort_stats("tottime").print_stats(args.top)


def callgrind(args: argparse.Namespace, tmp: Path, up_port: int) -> None:
    target = run.default_responsa_cmd() if args.target == "responsa" else (
        f"{sys.executable} {HERE / '_standin_proxy.py'}")
    extra = ["--log-level", "warning"] if args.target == "responsa" else []
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p.out",
           *target.split()]
    port = _proc.free_port()
    server = run.start_target(cmd, extra, port, tmp / "bench.db", up_port,
                              tmp / "server.log", 600)
    workloads = [("non-stream", False, args.requests), ("stream", True, args.stream_requests)]
    try:
        for _, stream, _ in workloads:  # warm-up: imports, caches, pooled connections
            loadgen(port, stream, 4, 4, 600)
        for name, stream, requests in workloads:
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True,
                           capture_output=True)
            loadgen(port, stream, requests, 4, 600)
            _proc.settle(server.pid)  # work left after the last byte (the store) counts
            subprocess.run(["callgrind_control", "-d", name, str(server.pid)], check=True,
                           capture_output=True)
            dump = max(tmp.glob(f"cg.{server.pid}.out.*"), key=lambda p: p.stat().st_mtime)
            found = re.search(r"^summary: (\d+)", dump.read_text(), re.M)
            assert found is not None, f"no summary in {dump}"
            print(f"{args.target} {name}: {int(found[1]) / requests / 1e6:.3f} M instructions"
                  f"/request ({requests} requests, C=4)", flush=True)
    finally:
        _proc.stop(server)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tools = ap.add_subparsers(dest="tool", required=True)
    cp = tools.add_parser("cprofile")
    cp.add_argument("--stream", action="store_true")
    cp.add_argument("--requests", type=int, default=2000)
    cp.add_argument("--concurrency", type=int, default=16)
    cp.add_argument("--out", default="prof.out", help="cProfile stats file")
    cp.add_argument("--top", type=int, default=40, help="functions to print, by own time")
    cg = tools.add_parser("callgrind")
    cg.add_argument("--requests", type=int, default=200, help="non-streaming")
    cg.add_argument("--stream-requests", type=int, default=12)
    cg.add_argument("--target", choices=["responsa", "standin"], default="responsa")
    args = ap.parse_args(argv)
    # The fake upstream's pacing: 1 ms/token as in run.py, 20 ms under valgrind (see above).
    args.tokens, args.token_interval_ms = 200, 20.0 if args.tool == "callgrind" else 1.0

    tmp = Path(tempfile.mkdtemp(prefix="responsa-prof-"))
    upstream, up_port = run.start_upstream(args, tmp / "upstream.log")
    try:
        (cprofile if args.tool == "cprofile" else callgrind)(args, tmp, up_port)
    finally:
        _proc.stop(upstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
