"""Rendering errors as OpenAI's envelope, with a request id on every response."""

from __future__ import annotations

import logging
import os

import orjson
from starlette.requests import Request
from starlette.responses import Response

from responsa.errors import ResponsaError

REQUEST_ID_HEADER = b"x-request-id"
logger = logging.getLogger("responsa")


def new_request_id() -> str:
    return "req_" + os.urandom(16).hex()


def error_response(error: ResponsaError) -> Response:
    body = orjson.dumps({"error": error.to_dict()})
    return Response(body, status_code=error.status_code, media_type="application/json")


async def handle_responsa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ResponsaError)
    return error_response(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(ResponsaError("The server had an error while processing your request."))
