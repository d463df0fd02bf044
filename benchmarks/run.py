"""Measure responsa's own server CPU per request against a fake upstream, next to the bare upstream.

    .venv/bin/python benchmarks/run.py [--out results.json] [--targets responsa,standin]

Starts benchmarks/fake_upstream.py, measures it alone (loadgen -> upstream), then starts each
target server (`responsa serve …`, or the stand-in proxy) against it, warms it up, and measures
the same workloads through it: the CPU time (user+sys) the target's process tree and the
upstream's spend over the measured requests, divided by the request count; throughput, p50/p99
latency, and the target's RSS before and after each round (memory flat?). Prints a markdown
table, writes JSON with `--out`, and stops every process it started by PID.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import _proc
from loadgen import percentile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS_MS = {"non-stream": 1.0, "stream": 10.0}  # the project's budgets, ms of CPU per request


@dataclass(frozen=True, slots=True)
class Workload:
    name: str  # "non-stream" | "stream"
    stream: bool
    requests: int


def default_responsa_cmd() -> str:
    exe = ROOT / ".venv" / "bin" / "responsa"
    return shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m responsa"


def start_upstream(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fake_upstream.py"),
            "--port",
            "0",
            "--tokens",
            str(args.tokens),
            "--token-interval-ms",
            str(args.token_interval_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        cwd=ROOT,
    )
    return proc, int(_proc.read_line(proc, 10, "fake upstream"))


def start_target(
    cmd: list[str],
    extra: list[str],
    port: int,
    db: Path,
    upstream: int,
    log: Path,
    timeout_s: float,
) -> subprocess.Popen[bytes]:
    argv = [
        *cmd,
        "serve",
        *extra,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        f"sqlite:///{db}",
        "--provider",
        f"fake=http://127.0.0.1:{upstream}/v1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
        )
    # The server announces nothing: poll /health until it answers 200.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{shlex.join(argv)} exited with {proc.returncode}:\n" + _tail(log))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    _proc.stop(proc)
    raise RuntimeError(
        f"{shlex.join(argv)}: /health not 200 within {timeout_s:.0f}s:\n" + _tail(log)
    )


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def measure(
    server_pid: int, upstream_pid: int, url: str, api: str, wl: Workload, args: argparse.Namespace
) -> dict[str, Any]:
    """Run `args.rounds` loadgen rounds; sample CPU and RSS around each measured phase only."""
    proxied = server_pid != upstream_pid
    warmup = (
        args.warmup if args.warmup is not None else max(2 * args.concurrency, wl.requests // 10)
    )
    rounds: list[dict[str, Any]] = []
    latencies: list[float] = []
    for _ in range(args.rounds):
        lg = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "loadgen.py"),
                "--url",
                url,
                "--api",
                api,
                *(["--stream"] if wl.stream else []),
                "--requests",
                str(wl.requests),
                "--concurrency",
                str(args.concurrency),
                "--warmup",
                str(warmup),
                "--control",
                "--latencies",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            if _proc.read_line(lg, 300, "loadgen") != "ready":
                raise RuntimeError("loadgen did not get ready")
            _proc.settle(server_pid)  # the warm-up's trailing work stays out of the sample
            rss0 = _proc.rss_kb(server_pid)
            s0, u0 = _proc.cpu(server_pid), _proc.cpu(upstream_pid)
            assert lg.stdin is not None
            lg.stdin.write(b"go\n")
            lg.stdin.flush()
            res = orjson.loads(_proc.read_line(lg, 600, "loadgen"))
            lg.wait(10)
        finally:
            _proc.stop(lg)
        _proc.settle(server_pid)
        s1, u1 = _proc.cpu(server_pid), _proc.cpu(upstream_pid)
        user, system, total = _proc.cpu_delta(s0, s1)
        latencies += res.pop("latencies_ms")
        rounds.append(
            {
                **res,
                "server_cpu_s": total,
                "server_user_s": user,
                "server_sys_s": system,
                "upstream_cpu_s": _proc.cpu_delta(u0, u1)[2] if proxied else total,
                "rss_kb_before": rss0,
                "rss_kb_after": _proc.rss_kb(server_pid),
            }
        )

    n: int = sum(r["requests"] for r in rounds)

    def per_req(key: str) -> float:  # ms per request, over all rounds
        total: float = sum(r[key] for r in rounds)
        return 1000 * total / n

    latencies.sort()
    growth = rounds[-1]["rss_kb_after"] - (
        rounds[-2]["rss_kb_after"] if len(rounds) > 1 else rounds[0]["rss_kb_before"]
    )
    return {
        "workload": wl.name,
        "api": api,
        "requests": n,
        "rounds": len(rounds),
        "concurrency": args.concurrency,
        "warmup_per_round": warmup,
        "cpu_ms_per_req": per_req("server_cpu_s"),
        "user_ms_per_req": per_req("server_user_s"),
        "sys_ms_per_req": per_req("server_sys_s"),
        "upstream_cpu_ms_per_req": per_req("upstream_cpu_s"),
        "loadgen_cpu_ms_per_req": per_req("loadgen_cpu_s"),
        "rps": n / sum(r["wall_s"] for r in rounds),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "errors": sum(r["errors"] for r in rounds),
        "first_error": next((r["first_error"] for r in rounds if r["first_error"]), None),
        "events_per_response": rounds[-1]["events_per_response"],
        "rss_mb_start": rounds[0]["rss_kb_before"] / 1024,
        "rss_mb_end": rounds[-1]["rss_kb_after"] / 1024,
        "rss_kb_growth_last_round": growth,
        # A heuristic, not a leak proof: caches (SQLite's page cache alone may take 2 MiB) and
        # allocator noise grow too. Catches ≥ 1 KiB kept per request; use more --rounds to look
        # longer.
        "memory_flat": growth <= max(2048, 0.5 * rounds[-1]["requests"]),
        "per_round": rounds,
    }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        rev = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
        "git_rev": rev,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def report(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"responsa benchmark — {meta['date']}, {meta['cpu']}, {meta['cores']} cores, "
        f"Python {meta['python']}, {meta['tokens']} tokens/stream at "
        f"{meta['token_interval_ms']} ms/token, concurrency {meta['concurrency']}",
        "",
        "| target | workload | requests | server CPU ms/req (user+sys) | upstream CPU ms/req "
        "| req/s | p50 ms | p99 ms | RSS MB start→end (last-round growth) | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        upstream = "—" if r["target"] == "upstream" else f"{r['upstream_cpu_ms_per_req']:.3f}"
        out.append(
            f"| {r['target']} | {r['workload']} | {r['requests']} "
            f"| **{r['cpu_ms_per_req']:.3f}** ({r['user_ms_per_req']:.2f}+"
            f"{r['sys_ms_per_req']:.2f}) | {upstream} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['rss_mb_start']:.1f}→{r['rss_mb_end']:.1f} "
            f"({r['rss_kb_growth_last_round']:+d} KiB{'' if r['memory_flat'] else ' ⚠'}) "
            f"| {r['errors']} |"
        )
    bare = {r["workload"]: r for r in results if r["target"] == "upstream"}
    rows = [r for r in results if r["target"] != "upstream"]
    if rows:
        out += [
            "",
            "| target | workload | own CPU ms/req | budget | verdict "
            "| vs bare upstream CPU | memory flat |",
            "|---|---|---:|---:|---|---:|---|",
        ]
        for r in rows:
            budget = TARGETS_MS[r["workload"]]
            base = bare.get(r["workload"])
            ratio = f"{r['cpu_ms_per_req'] / base['cpu_ms_per_req']:.1f}x" if base else "—"
            verdict = "PASS" if r["cpu_ms_per_req"] <= budget and not r["errors"] else "FAIL"
            out.append(
                f"| {r['target']} | {r['workload']} | {r['cpu_ms_per_req']:.3f} "
                f"| ≤ {budget:g} | {verdict} | {ratio} "
                f"| {'yes' if r['memory_flat'] else 'NO'} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="non-streaming, per round")
    ap.add_argument("--stream-requests", type=int, default=300, help="streaming, per round")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=200, help="content chunks per response")
    ap.add_argument(
        "--token-interval-ms",
        type=float,
        default=1.0,
        help="upstream pacing between streamed tokens (0: whole stream at once)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="measured rounds per workload (RSS compared between the last two)",
    )
    ap.add_argument(
        "--warmup",
        type=int,
        help="unmeasured requests per round (default: max(2*concurrency, requests/10))",
    )
    ap.add_argument(
        "--targets",
        default="responsa",
        help="comma-separated: responsa, standin (the minimal stand-in proxy)",
    )
    ap.add_argument(
        "--responsa-cmd",
        default=default_responsa_cmd(),
        help="command that takes `serve --host … --port … --database … --provider …`",
    )
    ap.add_argument(
        "--serve-args",
        default="",
        help="extra arguments for `responsa serve`, e.g. '--log-level warning'",
    )
    ap.add_argument("--workloads", default="non-stream,stream")
    ap.add_argument("--no-bare", action="store_true", help="skip measuring the upstream alone")
    ap.add_argument("--startup-timeout", type=float, default=60.0)
    ap.add_argument("--out", type=Path, help="write the JSON results here")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the database and logs")
    args = ap.parse_args(argv)

    commands = {
        "responsa": shlex.split(args.responsa_cmd),
        "standin": [sys.executable, str(HERE / "_standin_proxy.py")],
    }
    extra = {"responsa": shlex.split(args.serve_args), "standin": []}
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - commands.keys()
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    workloads = [
        w
        for w in (
            Workload("non-stream", False, args.requests),
            Workload("stream", True, args.stream_requests),
        )
        if w.name in args.workloads.split(",")
    ]

    meta = {
        **machine(),
        "tokens": args.tokens,
        "token_interval_ms": args.token_interval_ms,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "targets": targets,
        "commands": {t: shlex.join(commands[t] + ["serve", *extra[t]]) for t in targets},
    }
    tmp = Path(tempfile.mkdtemp(prefix="responsa-bench-"))
    results: list[dict[str, Any]] = []
    failures: list[str] = []  # targets that would not start or whose loadgen gave up
    upstream: subprocess.Popen[bytes] | None = None
    try:
        upstream, up_port = start_upstream(args, tmp / "upstream.log")
        if not args.no_bare:
            for wl in workloads:
                print(f"… upstream alone, {wl.name}", file=sys.stderr)
                url = f"http://127.0.0.1:{up_port}"
                results.append(
                    {
                        "target": "upstream",
                        **measure(upstream.pid, upstream.pid, url, "chat", wl, args),
                    }
                )
        for name in targets:
            try:
                results += measure_target(
                    name, commands[name], extra[name], up_port, upstream.pid, workloads, tmp, args
                )
            except RuntimeError as exc:  # reported with its log; the other targets still run
                print(f"error: {name}: {str(exc).splitlines()[0]}", file=sys.stderr)
                failures.append(f"{name}: {exc}")
    finally:
        if upstream is not None:
            _proc.stop(upstream)
        failed = bool(failures) or any(r["errors"] for r in results)
        if failed or args.keep_tmp:
            print(f"logs and databases kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(report(results, meta))
    for r in results:
        if r["first_error"]:
            print(f"\n{r['target']} {r['workload']}: first error: {r['first_error']}")
    for failure in failures:
        print(f"\nFAILED {failure}")
    if args.out:
        args.out.write_bytes(
            orjson.dumps(
                {"meta": meta, "results": results, "failures": failures},
                option=orjson.OPT_INDENT_2,
            )
        )
    return 2 if failures else 1 if failed else 0


def measure_target(
    name: str,
    cmd: list[str],
    extra: list[str],
    up_port: int,
    upstream_pid: int,
    workloads: list[Workload],
    tmp: Path,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Start one target server, measure every workload through it, stop it."""
    port = _proc.free_port()
    log = tmp / f"{name}.log"
    server = start_target(cmd, extra, port, tmp / f"{name}.db", up_port, log, args.startup_timeout)
    out = []
    try:
        for wl in workloads:
            print(f"… {name}, {wl.name}", file=sys.stderr)
            url = f"http://127.0.0.1:{port}"
            try:
                out.append(
                    {
                        "target": name,
                        **measure(server.pid, upstream_pid, url, "responses", wl, args),
                    }
                )
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; server log {log}:\n{_tail(log, 15)}") from exc
    finally:
        _proc.stop(server)
    return out


if __name__ == "__main__":
    sys.exit(main())
