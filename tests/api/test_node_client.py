"""The official openai-node client (tests/node, pinned in its package-lock.json) against
responsa on SQLite with the real llama.cpp engine: create, stream (helper and raw), replay from
the middle, a function call round trip, stored state, conversations and error classes, each as
the Node SDK parses them (tests/node/drive.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LLAMA_MODEL
from tests.support.responsa_server import RunningResponsa

NODE_DIR = Path(__file__).parents[1] / "node"


@pytest.fixture(scope="module")
def report(server: RunningResponsa) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make install-test installs the client)"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `make install-test`"
    done = subprocess.run([node, "drive.mjs", server.base_url, LLAMA_MODEL], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_create_and_continue(report: dict[str, Any]) -> None:
    create = report["create"]
    assert create["object"] == "response" and create["status"] in ("completed", "incomplete")
    assert create["text"]  # output_text, the SDK's own convenience
    assert create["previous"] and create["usage"]["input_tokens"] > 0


def test_stream_helper_and_raw_stream(report: dict[str, Any]) -> None:
    stream = report["stream"]
    assert stream["types"][0] == "response.created"
    assert stream["types"][-1] in ("response.completed", "response.incomplete")
    assert "response.output_text.delta" in stream["types"] and stream["final"]["text"]
    raw = report["raw"]
    assert raw["sequence"] == list(range(len(raw["sequence"])))
    assert raw["replayed"] == raw["sequence"][3:]


def test_function_call_round_trip(report: dict[str, Any]) -> None:
    tools = report["tools"]
    assert tools["call"]["type"] == "function_call" and tools["call"]["name"] == "get_weather"
    assert isinstance(tools["call"]["arguments"]["city"], str)
    assert tools["answered"] in ("completed", "incomplete")


def test_stored_state(report: dict[str, Any]) -> None:
    state = report["state"]
    assert state["retrieved"] is True
    assert state["items"] == ["function_call_output"]
    assert state["counted"]["object"] == "response.input_tokens"
    assert state["counted"]["input_tokens"] > 0
    assert state["deleted"]["object"] == "response" and state["deleted"]["deleted"] is True
    assert state["gone"]["class"] == "NotFoundError" and state["gone"]["status"] == 404


def test_conversation(report: dict[str, Any]) -> None:
    conversation = report["conversation"]
    assert conversation["status"] in ("completed", "incomplete")
    assert conversation["items"][:3] == [["message", "user"]] * 3
    assert conversation["items"][3:] == [["message", "assistant"]]
    assert conversation["metadata"] == {"topic": "x"} and conversation["deleted"] is True


def test_errors(report: dict[str, Any]) -> None:
    errors = report["errors"]
    assert errors["temperature"] == {"class": "BadRequestError", "status": 400,
                                     "code": "decimal_above_max_value",
                                     "param": "temperature", "type": "invalid_request_error"}
    assert errors["previous"] == {"class": "BadRequestError", "status": 400,
                                  "code": "previous_response_not_found",
                                  "param": "previous_response_id",
                                  "type": "invalid_request_error"}
