"""Runs llama.cpp's own HTTP server (from the `xllamacpp` wheel) as a child process.

    python -m responsa.providers.llamacpp_server MODEL.gguf --alias NAME
        [--threads N] [--n-ctx N] [--parallel N] [--port P]

Prints the listening address (`host:port`) on its first stdout line, then serves until its stdin
closes: the parent holds the pipe, so the engine never outlives the server that started it.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="responsa-llamacpp")
    parser.add_argument("model")
    parser.add_argument("--alias", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--parallel", type=int, default=1, help="concurrent request slots")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port  # 0: the OS picks a free port
    params.n_ctx = args.n_ctx
    params.n_parallel = args.parallel
    params.kv_unified = True  # every slot may use the whole context
    # More threads than idle cores make llama.cpp's barriers spin: 1 is the safe default.
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.offline = True
    params.ui = False
    server = xllamacpp.Server(params)  # returns once the model is loaded and listening
    print(server.listening_address, flush=True)
    sys.stdin.read()  # returns at EOF: the parent exited or asked us to stop
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
