"""`responsa serve …`: parse arguments, load settings, hand over to uvicorn.
`responsa prompts …` manages prompt templates (see prompts_cli)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from responsa import prompts_cli
from responsa.config import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="responsa", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Responses API server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--database", help="sqlite:///path or postgresql://…")
    serve.add_argument("--provider", action="append", default=[], metavar="NAME=BASE_URL",
                       help="an OpenAI-compatible chat-completions upstream (repeatable)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    prompts_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "prompts":
        return prompts_cli.run(args)
    try:
        settings = load_settings(args.config, host=args.host, port=args.port,
                                 database=args.database, providers=args.provider)
    except ConfigError as exc:
        print(f"responsa: {exc}", file=sys.stderr)
        return 2
    return serve(settings, log_level=args.log_level)


def serve(settings: Settings, *, log_level: str = "info") -> int:
    import uvicorn

    from responsa.api.app import create_app

    _ensure_sqlite_folder(settings.database)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=log_level, access_log=False, loop="uvloop", http="httptools",
                lifespan="on", timeout_graceful_shutdown=10)
    return 0


def _ensure_sqlite_folder(database: str) -> None:
    if database.startswith("sqlite:///") and ":memory:" not in database:
        Path(database.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
