"""`responsa prompts create|list|show|delete`: manage prompt templates in the database directly
(`--database`, or the configured one), without a running server."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError

from responsa.config import ConfigError, load_settings
from responsa.errors import ResponsaError
from responsa.ids import new_id
from responsa.protocol.prompts import PromptTemplateRequest
from responsa.protocol.validation_errors import first_error
from responsa.store.base import Store
from responsa.store.registry import create_store


def add_parser(commands: Any) -> None:
    """Add `prompts` and its subcommands to the top-level subparsers."""
    prompts = commands.add_parser("prompts", help="manage prompt templates")
    actions = prompts.add_subparsers(dest="action", required=True)

    def sub(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help)
        parser.add_argument("--config", help="TOML configuration file")
        parser.add_argument("--database", help="sqlite:///path or postgresql://…")
        return parser

    create = sub("create", "create a prompt, or a new version of one (--id)")
    create.add_argument("--id", dest="prompt_id", help="add a version to this prompt")
    create.add_argument("--instructions", help="instructions, with {{variable}} placeholders")
    create.add_argument("--input", dest="input_json", metavar="JSON",
                        help="input items (a JSON string or array), placeholders in text parts")
    create.add_argument("--model", help="the model used when a request gives none")
    create.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    sub("list", "list prompts (each at its latest version)")
    show = sub("show", "print a prompt as JSON")
    show.add_argument("prompt_id")
    show.add_argument("--version", help="this version instead of the latest")
    delete = sub("delete", "delete a prompt with all its versions")
    delete.add_argument("prompt_id")


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, database=args.database)
        action = _ACTIONS[args.action]
        return asyncio.run(_with_store(settings.database, lambda store: action(store, args)))
    except (ConfigError, ResponsaError, ValueError) as exc:
        message = exc.message if isinstance(exc, ResponsaError) else str(exc)
        print(f"responsa: {message}", file=sys.stderr)
        return 2


async def _with_store(url: str, action: Callable[[Store], Awaitable[int]]) -> int:
    store = create_store(url)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


async def _create(store: Store, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"instructions": args.instructions, "model": args.model}
    if args.input_json is not None:
        try:
            body["input"] = orjson.loads(args.input_json)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"--input is not valid JSON: {exc}") from None
    if args.metadata:
        pairs = [pair.partition("=") for pair in args.metadata]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError("--metadata takes KEY=VALUE")
        body["metadata"] = {key: value for key, _, value in pairs}
    try:
        template = PromptTemplateRequest.model_validate(body).template()
    except ValidationError as exc:
        raise first_error(exc) from None
    now = int(time.time())
    if args.prompt_id is None:
        prompt = await store.create_prompt(new_id("pmpt"), now, template)
    else:
        found = await store.add_prompt_version(args.prompt_id, now, template)
        if found is None:
            return _not_found(args.prompt_id)
        prompt = found
    _print_json(prompt)
    return 0


async def _list(store: Store, args: argparse.Namespace) -> int:
    after: str | None = None
    while True:
        page = await store.list_prompts(after=after, limit=100, order="asc")
        for prompt in page.data:
            print(f"{prompt['id']}\tv{prompt['version']}\t{prompt.get('model') or '-'}")
        if not page.has_more:
            return 0
        after = page.data[-1]["id"]


async def _show(store: Store, args: argparse.Namespace) -> int:
    prompt = await store.get_prompt(args.prompt_id, args.version)
    if prompt is None:
        return _not_found(args.prompt_id, args.version)
    _print_json(prompt)
    return 0


async def _delete(store: Store, args: argparse.Namespace) -> int:
    if not await store.delete_prompt(args.prompt_id):
        return _not_found(args.prompt_id)
    print(f"deleted {args.prompt_id}")
    return 0


def _not_found(prompt_id: str, version: str | None = None) -> int:
    what = f"version '{version}' of prompt '{prompt_id}'" if version else f"prompt '{prompt_id}'"
    print(f"responsa: {what} not found", file=sys.stderr)
    return 1


_ACTIONS: dict[str, Callable[[Store, argparse.Namespace], Awaitable[int]]] = {
    "create": _create, "list": _list, "show": _show, "delete": _delete,
}
