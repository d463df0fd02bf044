"""/v1/models: every model that can be routed, named `provider/model`, with its provider
(`owned_by` and `provider`) and its context window (configured, or as the engine reports it;
null when unknown)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import json_response
from responsa.errors import NotFoundError
from responsa.providers.registry import ProviderRegistry

_STARTED = int(time.time())


async def _models(request: Request) -> list[dict[str, object]]:
    registry: ProviderRegistry = request.app.state.engine.providers
    return [
        {"id": f"{provider}/{info.id}", "object": "model", "created": _STARTED,
         "owned_by": provider, "provider": provider, "context_window": info.context_window}
        for provider, info in await registry.list_models()
    ]


async def list_models(request: Request) -> Response:
    return json_response({"object": "list", "data": await _models(request)})


async def retrieve_model(request: Request) -> Response:
    model_id = request.path_params["model"]
    for model in await _models(request):
        if model["id"] == model_id:
            return json_response(model)
    raise NotFoundError(f"The model '{model_id}' does not exist.", code="model_not_found")


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
]
