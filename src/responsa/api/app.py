"""The application factory: routes, error rendering, and the lifespan that owns the store and
the providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api import (
    containers,
    conversations,
    files,
    models,
    prompts,
    responses,
    vector_stores,
    websocket,
)
from responsa.api.errors import error_response, handle_responsa_error, handle_unexpected
from responsa.api.json import json_response
from responsa.api.middleware import EdgeMiddleware
from responsa.config import Settings, containers_dir
from responsa.engine.background import BackgroundRunner
from responsa.engine.compaction_items import Sealer
from responsa.engine.run import Engine
from responsa.engine.secret import load_secret
from responsa.errors import InvalidRequestError, NotFoundError, ResponsaError
from responsa.providers.registry import ProviderRegistry
from responsa.retrieval.services import FileServices
from responsa.sandbox.containers import Containers
from responsa.store.registry import create_store
from responsa.tools.base import ToolServices
from responsa.tools.image_generation import ImagesEndpoint
from responsa.tools.search_backends import create_backend
from responsa.webhooks import WebhookNotifier


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"Invalid URL ({request.method} {request.url.path})"
    if exc.status_code == 404:
        return error_response(NotFoundError(message))
    error = InvalidRequestError(message if exc.status_code == 405 else str(exc.detail))
    error.status_code = exc.status_code
    return error_response(error)


def create_app(settings: Settings) -> EdgeMiddleware:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = create_store(settings.database)
        await store.open()
        providers = ProviderRegistry(settings.providers, default=settings.default_provider)
        file_services = FileServices.create(settings, store)
        code_containers = Containers(store, settings.code_interpreter,
                                     containers_dir(settings))
        code_containers.file_source = file_services.named_content
        await code_containers.start()
        services = ToolServices(
            settings=settings, store=store, files=file_services,
            web_search=create_backend(settings.web_search) if settings.web_search else None,
            images=ImagesEndpoint(settings.image_generation)
            if settings.image_generation else None,
            containers=code_containers)
        engine = Engine(store, providers,
                        Sealer(await load_secret(settings.database, settings.secret_key)),
                        services)
        # Background runs announce their end through `app.state.webhooks.notify(response)`;
        # every replica sweeps the queued deliveries as often as it sweeps for orphaned runs.
        webhooks = WebhookNotifier(store, settings.webhooks,
                                   poll_seconds=settings.run_lease_seconds / 3)
        await webhooks.start()
        runner = BackgroundRunner(engine, lease_seconds=settings.run_lease_seconds)
        runner.on_terminal.append(webhooks.notify)
        await runner.start()
        app.state.settings = settings
        app.state.engine = engine
        app.state.webhooks = webhooks
        app.state.runner = runner
        app.state.files = file_services
        await file_services.start()
        app.state.containers = code_containers
        try:
            yield
        finally:
            await runner.stop()
            await engine.drain()
            await webhooks.aclose()
            await file_services.aclose()
            await providers.aclose()
            await code_containers.aclose()
            for shared in (services.web_search, services.images):
                if shared is not None:
                    await shared.aclose()
            await store.close()

    app = Starlette(
        routes=[Route("/health", health, methods=["GET"]), *responses.routes,
                *conversations.routes, *models.routes, *prompts.routes, *websocket.routes,
                *files.routes, *vector_stores.routes, *containers.routes],
        exception_handlers={
            ResponsaError: handle_responsa_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    return EdgeMiddleware(app, api_keys=settings.api_keys)
