"""Providers by name, and `provider/model` routing.

Adding a dialect means adding a module and one entry in `ADAPTERS`; nothing else changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from responsa.config import ProviderConfig
from responsa.errors import InvalidRequestError, UpstreamError
from responsa.providers.anthropic_messages import AnthropicMessagesProvider
from responsa.providers.base import ModelInfo, Provider
from responsa.providers.llamacpp import LlamaCppProvider
from responsa.providers.openai_chat import ChatCompletionsProvider
from responsa.providers.openai_responses import ResponsesProvider

ADAPTERS: dict[str, Callable[[ProviderConfig], Provider]] = {
    "openai-chat": ChatCompletionsProvider,
    "llama.cpp": LlamaCppProvider,
    "anthropic-messages": AnthropicMessagesProvider,
    "openai-responses": ResponsesProvider,
}


class ProviderRegistry:
    def __init__(self, configs: Mapping[str, ProviderConfig], default: str | None = None) -> None:
        self._providers: dict[str, Provider] = {}
        for name, config in configs.items():
            factory = ADAPTERS.get(config.kind)
            if factory is None:
                raise ValueError(f"provider '{name}': unknown kind '{config.kind}' "
                                 f"(known: {', '.join(sorted(ADAPTERS))})")
            self._providers[name] = factory(config)
        self._default = default

    def resolve(self, model: str) -> tuple[Provider, str]:
        """`provider/model` → (provider, the model name the upstream knows)."""
        name, sep, upstream_model = model.partition("/")
        if not sep and self._default is not None:
            name, upstream_model = self._default, model
        provider = self._providers.get(name)
        if provider is None or not upstream_model:
            raise InvalidRequestError(
                f"The model '{model}' does not exist. Address models as 'provider/model'; "
                f"configured providers: {', '.join(sorted(self._providers)) or 'none'}.",
                param="model", code="model_not_found")
        return provider, upstream_model

    async def list_models(self) -> list[tuple[str, ModelInfo]]:
        """Every routable model; a provider that cannot be reached is skipped, not fatal."""
        names = list(self._providers)
        results = await asyncio.gather(
            *(self._providers[name].list_models() for name in names), return_exceptions=True)
        models: list[tuple[str, ModelInfo]] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, UpstreamError):
                continue
            if isinstance(result, BaseException):
                raise result
            models.extend((name, info) for info in result)
        return models

    async def aclose(self) -> None:
        await asyncio.gather(*(provider.aclose() for provider in self._providers.values()))
