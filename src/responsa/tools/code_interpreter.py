"""The hosted `code_interpreter` tool: model-written Python run in a container's sandbox
(responsa/sandbox/), on any model.

`{"type": "code_interpreter", "container": "cntr_…"}` runs in that container (it must exist and
not have expired: 404 / 400 before anything streams). `{"container": {"type": "auto",
"file_ids", "memory_limit"}}` reuses the container the response chain already ran code in, or
creates one on the first call.

The model is offered one function, `python({"code"})`, described with the files already in the
container. Each call streams a `code_interpreter_call` item: `.in_progress`, the code as
`response.code_interpreter_call_code.delta` / `.done`, `.interpreting`, `.completed`. The
finished item keeps `outputs` — the logs (printed output, then the traceback if it raised) and
an `image` (a data URL) per picture the call wrote — which reach the client only under
`include: ["code_interpreter_call.outputs"]` (engine/snapshot.py). The model reads the logs and
the paths of the files the call wrote; the answer gets a `container_file_citation` wherever it
names one of those files (its path, `sandbox:` link or bare name).

With no usable sandbox (not installed, disabled, namespaces forbidden) the tool is refused
with a 400 that says why.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from responsa.errors import InvalidRequestError
from responsa.ids import new_id
from responsa.sandbox.command import MOUNT_POINT
from responsa.sandbox.containers import Containers
from responsa.sandbox.session import Execution
from responsa.store.containers import ContainerFileRow, ContainerRow
from responsa.tools.base import HostedCall, HostedOutcome, OutputSink, ToolServices
from responsa.tools.registry import FACTORIES, REPLAYS

JSONDict = dict[str, Any]

FUNCTION_NAME = "python"
AUTO_CONTAINER_NAME = "code_interpreter auto container"
MAX_IMAGE_BYTES = 4 << 20  # larger pictures stay downloadable files, not inline outputs
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif", ".webp": "image/webp"}
_LISTED_FILES = 20  # files named in the function's description

_DESCRIPTION = (
    "Run Python 3 code in a stateful sandbox: variables and imports persist between calls. "
    f"Print what you need to see. Files are in {MOUNT_POINT}; save files for the user there and "
    "mention their path in your answer. There is no network access.")


@dataclass(slots=True)
class CodeInterpreterTool:
    containers: Containers
    spec: JSONDict  # the request's tool object
    index: int  # its position in `tools`, for error params
    type: str = "code_interpreter"
    container: ContainerRow | None = None  # None until prepared (auto: until the first call)
    listed: list[str] = field(default_factory=list)  # paths already in the container
    written: list[ContainerFileRow] = field(default_factory=list)  # by this response's calls

    def functions(self) -> list[JSONDict]:
        description = _DESCRIPTION
        if self.listed:
            shown = ", ".join(self.listed[:_LISTED_FILES])
            description += f" Files available: {shown}."
        return [{"type": "function", "name": FUNCTION_NAME, "description": description,
                 "parameters": {"type": "object",
                                "properties": {"code": {"type": "string", "minLength": 1,
                                                        "description": "The code to run."}},
                                "required": ["code"], "additionalProperties": False},
                 # Not strict: `minLength` keeps a grammar-constrained small model from "".
                 "strict": False}]

    def owns(self, name: str) -> bool:
        return name == FUNCTION_NAME

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        container = self.spec["container"]
        if isinstance(container, str):
            self.container = await self.containers.running(
                container, param=f"tools[{self.index}].container")
        else:
            if container.get("file_ids"):
                await self._auto_container()  # copying its files may be refused: before streaming
            else:
                self.container = await self._chain_container(history)
        if self.container is not None:
            files = await self.containers.store.container_files(self.container.id)
            self.listed = [row.path for row in files]
        return []

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        code = _code(call.arguments)
        item: JSONDict = {"id": new_id("ci"), "type": "code_interpreter_call",
                          "status": "in_progress", "code": "",
                          "container_id": self.container.id if self.container else "",
                          "outputs": None}
        container = self.container or await self._auto_container()
        item["container_id"] = container.id
        sink.open_item(dict(item))
        sink.item_event("response.code_interpreter_call.in_progress")
        sink.item_event("response.code_interpreter_call_code.delta", delta=code)
        sink.item_event("response.code_interpreter_call_code.done", code=code)
        sink.item_event("response.code_interpreter_call.interpreting")
        item["code"] = code
        try:
            container = await self.containers.running(container.id)
        except InvalidRequestError as exc:  # it expired (or was deleted) during the response
            item.update(status="failed", outputs=[{"type": "logs", "logs": exc.message}])
            sink.close_item(item)
            return HostedOutcome(item, exc.message)
        execution, written = await self.containers.run(container, code)
        self.written += written
        item.update(status="completed", outputs=await self._outputs(execution, written))
        sink.item_event("response.code_interpreter_call.completed")
        sink.close_item(item)
        return HostedOutcome(item, _model_output(execution, written))

    async def aclose(self) -> None:
        return None  # the container outlives the response; its session is the service's

    def citations(self, text: str) -> list[JSONDict]:
        """`container_file_citation`s for the mentions of each file this response's code
        wrote: its path (with or without `sandbox:`), or its bare name when the path is never
        written out."""
        spans: dict[int, JSONDict] = {}
        for row in {row.path: row for row in self.written}.values():
            filename = row.path.rsplit("/", 1)[-1]
            # The path where the answer links it (a markdown link's text is not cited again).
            path = rf"(?:sandbox:)?{re.escape(row.path)}(?![\w/-])"
            if not re.search(path, text):
                path = rf"(?<![\w/.-]){re.escape(filename)}(?![\w/-])"
            for match in re.finditer(path, text):
                spans.setdefault(match.start(), {
                    "type": "container_file_citation", "container_id": row.container_id,
                    "file_id": row.id, "filename": filename,
                    "start_index": match.start(), "end_index": match.end()})
        return [spans[start] for start in sorted(spans)]

    async def _chain_container(self, history: list[JSONDict]) -> ContainerRow | None:
        """The container this chain's code last ran in, if it is still running."""
        for item in reversed(history):
            if item.get("type") == "code_interpreter_call" and item.get("container_id"):
                row = await self.containers.store.get_container(item["container_id"])
                if row is not None and row.status == "running":
                    return await self.containers.get(row.id)  # expires it now if due
                return None
        return None

    async def _auto_container(self) -> ContainerRow:
        auto = self.spec["container"]
        self.container = await self.containers.create(
            AUTO_CONTAINER_NAME, memory_limit=auto.get("memory_limit") or "1g",
            file_ids=auto.get("file_ids") or [],
            file_ids_param=f"tools[{self.index}].container.file_ids")
        return self.container

    async def _outputs(self, execution: Execution, written: list[ContainerFileRow]
                       ) -> list[JSONDict]:
        outputs: list[JSONDict] = []
        logs = _logs(execution)
        if logs:
            outputs.append({"type": "logs", "logs": logs})
        for row in written:
            media_type = _IMAGE_TYPES.get(_extension(row.path))
            if media_type is None or row.bytes > MAX_IMAGE_BYTES:
                continue
            data = await self.containers.content(row.container_id, row.id)
            outputs.append({"type": "image", "url": f"data:{media_type};base64,"
                                                     f"{base64.b64encode(data).decode()}"})
        return outputs


def _code(arguments: str) -> str:
    """The code from `{"code": …}`; arguments that are not a JSON object are taken as the code
    itself (small models write the code bare)."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict):
        code = parsed.get("code")
        return code if isinstance(code, str) else ""
    return arguments


def _logs(execution: Execution) -> str:
    return execution.logs + (execution.error or "")


def _model_output(execution: Execution, written: list[ContainerFileRow]) -> str:
    text = _logs(execution) or "(no output)"
    if written:
        text += "\nFiles written: " + ", ".join(f"{row.path} ({row.bytes} bytes)"
                                                for row in written)
    return text


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind("."):].lower() if "." in name else ""


def code_interpreter_factory(tool: JSONDict, index: int,
                             services: ToolServices) -> CodeInterpreterTool:
    containers = services.containers
    reason = "it is not configured" if containers is None else containers.unavailable
    if containers is None or reason is not None:
        raise InvalidRequestError(
            f"Tools of type 'code_interpreter' are not available on this server: {reason}.",
            param=f"tools[{index}].type", code="unsupported_value")
    container = tool["container"]
    policy = container.get("network_policy") if isinstance(container, dict) else None
    if policy and policy.get("type") != "disabled":
        raise InvalidRequestError(
            "The code interpreter has no network on this server: only network_policy "
            "{'type': 'disabled'} is supported.",
            param=f"tools[{index}].container.network_policy", code="unsupported_value")
    return CodeInterpreterTool(containers, tool, index)


def replay(item: JSONDict) -> list[JSONDict]:
    """A stored call as the model saw it: its code and its logs."""
    logs = [output["logs"] for output in item.get("outputs") or () if output["type"] == "logs"]
    return [
        {"type": "function_call", "call_id": item["id"], "name": FUNCTION_NAME,
         "arguments": json.dumps({"code": item.get("code") or ""})},
        {"type": "function_call_output", "call_id": item["id"],
         "output": "".join(logs) or "(no output)"},
    ]


FACTORIES["code_interpreter"] = code_interpreter_factory
REPLAYS["code_interpreter_call"] = replay
