"""The hosted `code_interpreter` tool through the SDK: a scripted model runs Python in the
sandbox (items, the event grammar, `include` of outputs, files the code writes downloadable
through the Containers API and cited in the answer, state kept between calls and turns), bad
containers refused, and the real llama.cpp model running code."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from responsa.config import (
    CodeInterpreterConfig,
    ConfigError,
    containers_dir,
    load_settings,
)
from responsa.errors import InvalidRequestError
from responsa.tools.base import ToolServices
from responsa.tools.code_interpreter import code_interpreter_factory
from tests.conftest import LLAMA_MODEL, sdk_client
from tests.support.containers import SandboxServer, sandbox_server
from tests.support.llama_server import LlamaServer
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script
from tests.support.sdk import streamed_events

OUTPUTS = "code_interpreter_call.outputs"
AUTO = {"type": "code_interpreter", "container": {"type": "auto"}}
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module", params=["sqlite"])  # the tests storing state: both databases
def sandboxed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              llama: LlamaServer, scripted: ScriptedUpstream) -> Iterator[SandboxServer]:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with sandbox_server(tmp_path_factory.mktemp("code"), llama, scripted, dsn) as server:
        yield server


STORES = pytest.mark.parametrize(
    "sandboxed", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True)


@pytest.fixture
def client(sandboxed: SandboxServer) -> OpenAI:
    return sdk_client(sandboxed.server)


def python_call(code: str, call_id: str = "call_py") -> Script:
    """The model calls the `python` function with `code`."""
    return Script([chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": call_id, "type": "function",
        "function": {"name": "python", "arguments": json.dumps({"code": code})}}]}),
        chunk(finish="tool_calls")])


def of_item(events: list[dict[str, Any]], item_id: str) -> list[str]:
    return [e["type"] for e in events if e.get("item_id") == item_id
            or e.get("item", {}).get("id") == item_id]


def tool_results(scripted: ScriptedUpstream, model: str) -> list[str]:
    return [m["content"] for m in scripted.last_request(model)["messages"] if m["role"] == "tool"]


@STORES
def test_code_writes_files_that_are_shown_downloadable_and_cited(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    code = ("import base64\n"
            "open('/mnt/data/report.csv', 'w').write('a,b\\n1,2\\n')\n"
            f"open('/mnt/data/dot.png', 'wb').write(base64.b64decode({base64.b64encode(PNG)!r}))\n"
            "print('rows:', 1)")
    answer = "Here it is: [report](sandbox:/mnt/data/report.csv)."
    model = scripted.play(python_call(code), text_script(answer))
    events = streamed_events(client, model=model, input="Make a report", tools=[AUTO])
    response = events[-1]["response"]
    assert events[-1]["type"] == "response.completed", response["error"]
    call, message = response["output"]
    assert call["type"] == "code_interpreter_call" and call["id"].startswith("ci_")
    assert call["status"] == "completed" and call["code"] == code
    assert call["container_id"].startswith("cntr_")
    assert call["outputs"] is None  # not asked for
    assert of_item(events, call["id"]) == [
        "response.output_item.added", "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta", "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting", "response.code_interpreter_call.completed",
        "response.output_item.done"]
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["status"] == "in_progress" and added["item"]["code"] == ""
    delta = next(e for e in events if e["type"] == "response.code_interpreter_call_code.delta")
    assert delta["delta"] == code

    # The model read the output and the files written.
    [result] = tool_results(scripted, model)
    assert result.startswith("rows: 1\n")
    assert "Files written: /mnt/data/report.csv (8 bytes), /mnt/data/dot.png" in result

    # The files are the container's, downloadable.
    files = {f.path: f for f in client.containers.files.list(call["container_id"])}
    report = files["/mnt/data/report.csv"]
    assert report.source == "assistant" and report.bytes == 8
    assert client.containers.files.content.retrieve(
        report.id, container_id=call["container_id"]).read() == b"a,b\n1,2\n"
    assert client.containers.files.content.retrieve(
        files["/mnt/data/dot.png"].id, container_id=call["container_id"]).read() == PNG

    # The answer cites the file where it links it.
    [part] = message["content"]
    start = answer.index("sandbox:")
    assert part["annotations"] == [{
        "type": "container_file_citation", "container_id": call["container_id"],
        "file_id": report.id, "filename": "report.csv",
        "start_index": start, "end_index": start + len("sandbox:/mnt/data/report.csv")}]

    # Outputs are stored: retrieve shows them under include only.
    assert client.responses.retrieve(response["id"]).output[0].outputs is None  # type: ignore[union-attr]
    shown = client.responses.retrieve(response["id"], include=[OUTPUTS]).output[0]
    assert shown.type == "code_interpreter_call"
    assert [o.model_dump() for o in shown.outputs or []] == [
        {"type": "logs", "logs": "rows: 1\n"},
        {"type": "image", "url": "data:image/png;base64," + base64.b64encode(PNG).decode()}]


def test_pandas_and_matplotlib_draw_a_chart(client: OpenAI, scripted: ScriptedUpstream) -> None:
    """What models write first: a DataFrame, then a plot saved as a picture."""
    code = ("import pandas as pd, matplotlib.pyplot as plt\n"
            "df = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 9]})\n"
            "print(df['y'].sum())\n"
            "df.plot(x='x', y='y')\n"
            "plt.savefig('/mnt/data/chart.png')")
    model = scripted.play(python_call(code), text_script("Drawn."))
    response = client.responses.create(model=model, input="Chart it", tools=[AUTO],
                                       include=[OUTPUTS])
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.status == "completed"
    logs, image = call.outputs or []
    assert logs.type == "logs" and logs.logs == "15\n"
    assert image.type == "image" and image.url.startswith("data:image/png;base64,")
    assert base64.b64decode(image.url.split(",", 1)[1]).startswith(b"\x89PNG\r\n")
    [chart] = client.containers.files.list(call.container_id)
    assert chart.path == "/mnt/data/chart.png" and chart.source == "assistant"


def test_explicit_container_keeps_state_between_calls(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    container = client.containers.create(name="explicit")
    client.containers.files.create(container.id, file=("data.csv", b"x\n1\n2\n3\n"))
    model = scripted.play(
        python_call("rows = open('/mnt/data/data.csv').read().split()[1:]", "call_1"),
        python_call("sum(map(int, rows))", "call_2"), text_script("The sum is 6."))
    response = client.responses.create(
        model=model, input="Sum the column", include=[OUTPUTS],
        tools=[{"type": "code_interpreter", "container": container.id}])
    first, second, message = response.output
    assert first.type == second.type == "code_interpreter_call"
    assert first.container_id == second.container_id == container.id  # type: ignore[union-attr]
    assert first.outputs == []  # type: ignore[union-attr]  # nothing printed
    assert [o.model_dump() for o in second.outputs or []] == [  # type: ignore[union-attr]
        {"type": "logs", "logs": "6\n"}]
    assert message.type == "message"
    # The model was told which files the container has.
    offered = scripted.requests[-3]["tools"][0]["function"]
    assert offered["name"] == "python" and "/mnt/data/data.csv" in offered["description"]


def test_errors_are_logs_not_failures(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(python_call("1/0"), text_script("Oops."))
    response = client.responses.create(model=model, input="x", tools=[AUTO], include=[OUTPUTS])
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.status == "completed"
    [logs] = call.outputs or []
    assert logs.type == "logs" and logs.logs.endswith("ZeroDivisionError: division by zero\n")
    assert tool_results(scripted, model)[0].endswith("ZeroDivisionError: division by zero\n")


@STORES
def test_auto_container_and_variables_carry_over_to_the_next_turn(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(python_call("counter = 41"), text_script("Set."),
                          python_call("print(counter + 1)", "call_next"),
                          text_script("42."))
    first = client.responses.create(model=model, input="Set a counter", tools=[AUTO])
    second = client.responses.create(model=model, input="Add one", tools=[AUTO],
                                     previous_response_id=first.id, include=[OUTPUTS])
    before, after = first.output[0], second.output[0]
    assert before.type == after.type == "code_interpreter_call"
    assert after.container_id == before.container_id  # type: ignore[union-attr]
    assert [o.model_dump() for o in after.outputs or []] == [  # type: ignore[union-attr]
        {"type": "logs", "logs": "42\n"}]
    # The first turn's call replays to the model as the function call and output it saw.
    messages = scripted.last_request(model)["messages"]
    replayed = next(m for m in messages if m.get("tool_calls"))
    assert replayed["tool_calls"][0]["function"] == {
        "name": "python", "arguments": json.dumps({"code": "counter = 41"})}
    assert next(m for m in messages if m["role"] == "tool")["content"] == "(no output)"


def test_unknown_expired_and_networked_containers_are_refused(
        client: OpenAI, sandboxed: SandboxServer, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("never"))
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model=model, input="x", tools=[
            {"type": "code_interpreter", "container": "cntr_nope"}])
    assert unknown.value.body["param"] == "tools[0].container"  # type: ignore[index]

    container = client.containers.create(name="old")
    sandboxed.idle_for(container.id, 20 * 60 + 1)
    with pytest.raises(openai.BadRequestError) as expired:
        client.responses.create(model=model, input="x", tools=[
            {"type": "code_interpreter", "container": container.id}])
    assert expired.value.body["code"] == "container_expired"  # type: ignore[index]
    assert expired.value.body["param"] == "tools[0].container"  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as networked:
        client.responses.create(model=model, input="x", tools=[{
            "type": "code_interpreter", "container": {
                "type": "auto", "network_policy": {"type": "allowlist",
                                                   "allowed_domains": ["pypi.org"]}}}])
    assert networked.value.body["param"] == "tools[0].container.network_policy"  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as by_file:
        client.responses.create(model=model, input="x", tools=[{
            "type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-1"]}}])
    assert by_file.value.body["code"] == "invalid_value"  # type: ignore[index]
    assert by_file.value.body["param"] == "tools[0].container.file_ids[0]"  # type: ignore[index]


def test_tool_is_refused_where_no_sandbox_can_run() -> None:
    class NoSandbox:
        unavailable = "bwrap not installed (scripts/install-sandbox.sh installs bubblewrap)"

    services = ToolServices(settings=None, store=None, containers=NoSandbox())  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as refused:
        code_interpreter_factory(AUTO, 2, services)
    assert refused.value.param == "tools[2].type" and refused.value.code == "unsupported_value"
    assert "bwrap not installed" in refused.value.message
    with pytest.raises(InvalidRequestError, match="not configured"):
        code_interpreter_factory(AUTO, 0, ToolServices(settings=None, store=None))
    assert CodeInterpreterConfig().enabled  # on by default where the sandbox works


def test_llama_model_runs_code(client: OpenAI) -> None:
    response = client.responses.create(
        model=LLAMA_MODEL, input="Use python to print 2+2.", include=[OUTPUTS],
        tools=[AUTO], tool_choice={"type": "code_interpreter"}, max_output_tokens=120)
    calls = [item for item in response.output if item.type == "code_interpreter_call"]
    assert calls, response.output
    call = calls[0]
    # Whatever the tiny model wrote ran in the sandbox (a SyntaxError is output too).
    assert call.status == "completed" and call.container_id.startswith("cntr_")
    assert isinstance(call.code, str) and call.outputs is not None


def test_code_interpreter_config(tmp_path: Path) -> None:
    config = tmp_path / "responsa.toml"
    config.write_text('[code_interpreter]\nmemory_mb = 256\ntimeout_seconds = 5\n'
                      'data_dir = "/srv/boxes"\n')
    settings = load_settings(str(config), environ={})
    assert settings.code_interpreter.memory_mb == 256
    assert settings.code_interpreter.timeout_seconds == 5
    assert containers_dir(settings) == Path("/srv/boxes")
    # Unset: beside the SQLite database, or data/containers for PostgreSQL.
    beside = load_settings(environ={}, database="sqlite:////var/lib/responsa/r.db")
    assert containers_dir(beside) == Path("/var/lib/responsa/containers")
    remote = load_settings(environ={}, database="postgresql://db/responsa")
    assert containers_dir(remote) == Path("data/containers")
    for bad in ('cpu_seconds = 0', 'sandbox = "docker"', 'memory_mb = "big"'):
        config.write_text(f"[code_interpreter]\n{bad}\n")
        with pytest.raises(ConfigError):
            load_settings(str(config), environ={})
