"""The request bodies of the Containers API (`/v1/containers`), validated like every other
body (strict types, unknown keys refused, OpenAI's error codes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from responsa.protocol.tools import FileIds, MemoryLimit, NetworkPolicy, Skills
from responsa.protocol.wire import WireModel


class ExpiresAfter(WireModel):
    anchor: Literal["last_active_at"]
    minutes: Annotated[int, Field(ge=1)]


class ContainerCreateRequest(WireModel):
    """`POST /v1/containers`."""

    name: str
    expires_after: ExpiresAfter | None = None
    file_ids: FileIds | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: NetworkPolicy | None = None  # only "disabled" can be honored here
    skills: Skills | None = None  # refused: this server runs no skills


class ContainerFileCreateRequest(WireModel):
    """`POST /v1/containers/{id}/files` with a JSON body: a file of the Files API."""

    file_id: str
