"""The program that runs inside the sandbox: a Python REPL speaking one JSON line each way.

It is started as `python3 -I -c <this file's text> <limits as JSON>` by the system Python, so it
imports the standard library only and never this package. It applies the rlimits to itself
first (hard limits: the code it runs cannot raise them), then answers each request
`{"code": "..."}` with `{"logs": "...", "error": "..." | null}` on a private copy of its
stdout. The code's own stdin is /dev/null and its stdout/stderr (file descriptors 1 and 2, so
child processes too) go to a file on the sandbox's /tmp, read back with a size cap.

Variables persist between requests in one namespace, as in a notebook; an expression at the end
of a cell is echoed like the interactive interpreter does.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import resource
import signal
import sys
import traceback
from typing import Any

CAPTURE = "/tmp/.responsa-output"


def apply_limits(limits: dict[str, int]) -> None:
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]),
                        ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))
    # SIGXCPU at the soft limit ends the session; the hard limit is the kernel's SIGKILL.
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # A write past RLIMIT_FSIZE then fails with EFBIG in the code instead of killing the REPL.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def run_cell(code: str, namespace: dict[str, Any]) -> str | None:
    """Run one cell; the traceback text when it raised."""
    try:
        tree = ast.parse(code, "<cell>", "exec")
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):  # echo the value of a trailing expression
            tree.body.pop()
            exec(compile(tree, "<cell>", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
            if value is not None:
                print(repr(value))
        else:
            exec(compile(tree, "<cell>", "exec"), namespace)
    except SystemExit as exc:
        return f"SystemExit: {exc.code}"
    except BaseException:
        kind, value, tb = sys.exc_info()
        # Leave out this file's own frame: the traceback starts in the cell.
        return "".join(traceback.format_exception(kind, value, tb.tb_next if tb else None))
    return None


def read_capture(cap: int) -> str:
    with open(CAPTURE, "rb") as capture:
        data = capture.read(cap + 1)
    text = data[:cap].decode("utf-8", "replace")
    return text + "\n[output truncated]" if len(data) > cap else text


def main() -> None:
    limits = json.loads(sys.argv[1])
    apply_limits(limits)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    main_pid = os.getpid()
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in requests:
        capture = os.open(CAPTURE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(capture, 1)
        os.dup2(capture, 2)
        os.close(capture)
        error = run_cell(json.loads(line)["code"], namespace)
        if os.getpid() != main_pid:  # a process the cell forked must not answer
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            # Past RLIMIT_FSIZE the flush fails; what was written is kept.
            with contextlib.suppress(OSError):
                stream.flush()
        cap = limits["output_bytes"]
        reply = {"logs": read_capture(cap), "error": error if error is None else error[-cap:]}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
