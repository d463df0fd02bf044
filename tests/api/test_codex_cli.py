"""The bar: the real Codex CLI (`codex exec`, pinned in tests/codex/package.json) completes a
multi-turn task with tool calls against responsa, with no protocol error and no retry.

A recording proxy between Codex and responsa keeps every request Codex sent and every event it
was answered with. Codex runs in a throwaway working directory with its own CODEX_HOME, talks
only to 127.0.0.1, and runs its commands unsandboxed (`danger-full-access`): its Linux sandbox
needs a helper binary that Codex refuses to create under /tmp, where the tests live.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LLAMA_MODEL
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.recording_proxy import RecordingProxy
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script, usage
from tests.support.tiny_model import TinyModelConfig, build_tiny_model

WIDE_CONTEXT = 32768
CODEX_PACKAGE = Path(__file__).parents[1] / "codex" / "node_modules" / "@openai" / "codex"
CODEX = CODEX_PACKAGE / "bin" / "codex.js"
# The model metadata Codex would have for one of OpenAI's own models (a trimmed copy of the
# catalog its binary ships), under our model's name: with it Codex declares its `apply_patch`
# as a freeform `custom` tool (a Lark grammar), as it does for OpenAI's models.
CATALOG_ENTRY: dict[str, Any] = {
    "prefer_websockets": False, "support_verbosity": False, "default_verbosity": None,
    "apply_patch_tool_type": "freeform", "web_search_tool_type": "text",
    "input_modalities": ["text"], "supports_image_detail_original": False,
    "truncation_policy": {"mode": "tokens", "limit": 10000},
    "supports_parallel_tool_calls": True, "tool_mode": None, "multi_agent_version": None,
    "multi_agent_reasoning_effort": None, "use_responses_lite": False,
    "supports_reasoning_effort_updates": False, "include_skills_usage_instructions": False,
    "include_apps_usage_instructions": False, "include_plugin_usage_instructions": False,
    "guardian": None, "node_repl_auto_review_required": False, "node_repl_disabled": False,
    "requires_sandboxed_review": False, "auto_review_model_override": None,
    "model_specialty": None, "context_window": 200000, "max_context_window": 200000,
    "auto_compact_token_limit": None, "comp_hash": "responsa",
    "default_reasoning_summary": "none", "display_name": "responsa test model",
    "description": "A model behind responsa.", "default_reasoning_level": None,
    # Short, so that a small local model's context holds Codex's whole prompt.
    "base_instructions": "You are a coding agent. Use the tools to carry out the task.",
    "supported_reasoning_levels": [], "shell_type": "shell_command", "visibility": "list",
    "minimal_client_version": "0.124.0", "supported_in_api": True, "availability_nux": None,
    "upgrade": None, "priority": 1, "model_messages": None, "experimental_supported_tools": [],
    "available_in_plans": [], "supports_search_tool": False,
    "supports_experimental_context": False, "default_service_tier": None, "service_tiers": [],
    "additional_speed_tiers": [], "supports_reasoning_summary_parameter": False,
    "supports_reasoning_summaries": False,
}


@pytest.fixture(scope="module")
def wide_llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The tiny model with room for Codex's whole prompt (about 13k of its tokens) and several
    turns of what the random model says (llama.cpp caps the window at the model's own)."""
    model = build_tiny_model(tmp_path_factory.mktemp("wide-model") / "wide.gguf",
                             config=TinyModelConfig(n_ctx=WIDE_CONTEXT))
    server = start_llama_server(model, alias="tiny", n_ctx=WIDE_CONTEXT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def codex_server(tmp_path_factory: pytest.TempPathFactory, wide_llama: LlamaServer,
                 scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    tmp = tmp_path_factory.mktemp("responsa-codex")
    with serving(tmp, f"""
embedded_engine = false

[providers.llama]
base_url = "{wide_llama.base_url}"
engine = "llama.cpp"
context_window = {WIDE_CONTEXT}

[providers.scripted]
base_url = "{scripted.base_url}"
timeout = 5
""") as running:
        yield running


@pytest.fixture
def proxy(codex_server: RunningResponsa) -> Iterator[RecordingProxy]:
    with running(RecordingProxy(codex_server.url)) as recording:
        yield recording


def run_codex(tmp_path: Path, proxy: RecordingProxy, model: str, prompt: str, *config: str,
              sandbox: str = "danger-full-access") -> tuple[subprocess.CompletedProcess[str], Path]:
    """`codex exec` in a fresh working directory; returns the process and the directory."""
    assert CODEX.exists(), "the Codex CLI is not installed (make install-test runs npm ci)"
    work, home = tmp_path / "work", tmp_path / "codex-home"
    work.mkdir()
    home.mkdir()
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"models": [{**CATALOG_ENTRY, "slug": model}]}))
    (home / "config.toml").write_text("\n".join([
        f'model = "{model}"', 'model_provider = "responsa"',
        f'model_catalog_json = "{catalog}"', "check_for_update_on_startup = false",
        *config, "[model_providers.responsa]", 'name = "responsa"',
        f'base_url = "{proxy.base_url}"', 'env_key = "RESPONSA_TEST_KEY"',
        'wire_api = "responses"', ""]))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home),
           "RESPONSA_TEST_KEY": "test-key", "NO_COLOR": "1"}
    done = subprocess.run(
        ["node", str(CODEX), "exec", "--skip-git-repo-check", "--sandbox", sandbox, prompt],
        cwd=work, env=env, capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL, check=False)
    return done, work


def _call(name: str, arguments: dict[str, Any]) -> Script:
    return Script([
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [{"index": 0, "id": f"call_{name}", "type": "function",
                               "function": {"name": name, "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(arguments)}}]}),
        chunk(finish="tool_calls"), chunk(usage=usage(900, 30))])


def assert_clean_exchanges(proxy: RecordingProxy, turns: int) -> list[dict[str, Any]]:
    """Exactly `turns` model requests, each answered 200 with a stream ending completed: no
    protocol error and no retry. Returns the request bodies."""
    exchanges = proxy.responses()
    assert [exchange.status for exchange in exchanges] == [200] * turns, [
        (exchange.status, exchange.text) for exchange in exchanges]
    assert all(exchange.status < 400 for exchange in proxy.exchanges)
    for exchange in exchanges:
        kinds = [event["type"] for event in exchange.events]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
        assert "error" not in kinds and "response.failed" not in kinds
    return [exchange.body for exchange in exchanges]


def test_codex_patches_runs_and_answers(tmp_path: Path, proxy: RecordingProxy,
                                        scripted: ScriptedUpstream) -> None:
    """The scripted upstream plays the model's side deterministically (a tiny model cannot
    drive Codex on cue); the real Codex binary does its own: it applies the patch the model
    wrote with its freeform `apply_patch` custom tool, runs the command of an `exec_command`
    call, sends both results back, and prints the final answer."""
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello from responsa\n*** End Patch\n"
    model = scripted.play(_call("apply_patch", {"input": patch}),
                          _call("exec_command", {"cmd": "cat hello.txt"}),
                          text_script("hello.txt says: hello from responsa"))
    done, work = run_codex(tmp_path, proxy, model, "Create hello.txt, then show it.")
    assert done.returncode == 0, done.stderr
    assert (work / "hello.txt").read_text() == "hello from responsa\n"
    assert "hello.txt says: hello from responsa" in done.stdout
    first, second, third = assert_clean_exchanges(proxy, turns=3)
    for body in (first, second, third):  # Codex's own way: stateless, encrypted reasoning
        assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    tools = {tool.get("name"): tool for tool in first["tools"]}
    assert tools["apply_patch"]["type"] == "custom"
    assert tools["apply_patch"]["format"]["syntax"] == "lark"
    # Turn 2: the patch call came back as a custom tool call, and Codex applied it.
    call, output = second["input"][-2:]
    assert call["type"] == "custom_tool_call" and call["input"] == patch
    assert output["type"] == "custom_tool_call_output" and output["call_id"] == call["call_id"]
    assert "A hello.txt" in output["output"]
    # Turn 3: the command ran in Codex, and its output reached the model.
    call, output = third["input"][-2:]
    assert call["type"] == "function_call" and call["name"] == "exec_command"
    assert output["type"] == "function_call_output"
    assert "hello from responsa" in output["output"]
    sent = scripted.last_request(model)["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_exec_command",
                        "content": output["output"]}
    # The freeform patch reached the model as the one string parameter of a function.
    offered = {tool["function"]["name"]: tool["function"] for tool in
               scripted.last_request(model)["tools"]}
    assert offered["apply_patch"]["parameters"]["required"] == ["input"]
    assert "multi_agent_v1__spawn_agent" in offered


def test_codex_against_the_real_engine(tmp_path: Path, proxy: RecordingProxy) -> None:
    """Codex against llama.cpp serving the generated tiny model: whatever the random model says
    (text, or a call of one of Codex's tools, its namespaced ones among them), every turn is
    answered 200 with a stream Codex accepts, and Codex ends cleanly with the model's answer.
    Codex runs read-only here: a command the random model invents must not run for real (the
    sandbox helper is missing, so it fails to start and Codex hands that failure back)."""
    done, _ = run_codex(tmp_path, proxy, LLAMA_MODEL, "Say hello.", sandbox="read-only")
    assert done.returncode == 0, done.stderr
    bodies = assert_clean_exchanges(proxy, turns=len(proxy.responses()))
    final = proxy.responses()[-1].events[-1]["response"]
    said = [part["text"] for item in final["output"] if item["type"] == "message"
            for part in item["content"]]
    assert said and said[-1].strip() and said[-1].strip()[:40] in done.stdout
    assert {tool["type"] for tool in bodies[0]["tools"]} >= {"function", "custom", "namespace"}
    # The tiny model is wired to call offered tools: it does, and Codex answers each call on
    # the next turn.
    assert len(bodies) >= 2
    for exchange, body in zip(proxy.responses(), bodies[1:], strict=False):
        called = {item["call_id"] for item in exchange.events[-1]["response"]["output"]
                  if "call_id" in item}
        answered = {item["call_id"] for item in body["input"]
                    if item["type"].endswith("_output")}
        assert called and called <= answered


def test_codex_compacts_its_history_through_responsa(tmp_path: Path, proxy: RecordingProxy,
                                                     scripted: ScriptedUpstream) -> None:
    """Past `model_auto_compact_token_limit` Codex compacts. With a provider of its own (not
    OpenAI's first-party backend) it does so locally — never through /responses/compact: one
    more stateless request asks the model for a summary, and the turn goes on over the
    summary instead of the history. Scripted model side, real Codex."""
    summary = "SUMMARY: ran `echo one`, it printed one."
    model = scripted.play(_call("exec_command", {"cmd": "echo one"}), text_script(summary),
                          text_script("All done."))
    done, _ = run_codex(tmp_path, proxy, model, "Run echo one.",
                        "model_auto_compact_token_limit = 200")
    assert done.returncode == 0, done.stderr
    assert "All done." in done.stdout
    first, compacting, after = assert_clean_exchanges(proxy, turns=3)
    assert [exchange.path for exchange in proxy.exchanges] == ["/v1/responses"] * 3
    # The summary request: the whole history, the command's output in it, then Codex's ask.
    kinds = [item["type"] for item in compacting["input"]]
    assert kinds[-3:] == ["function_call", "function_call_output", "message"]
    assert compacting["input"][-1]["role"] == "user"
    # The turn goes on over the summary responsa relayed, without the call it replaces.
    texts = json.dumps(after["input"])
    assert summary.replace("`", "") in texts.replace("`", "")
    assert all(item["type"] == "message" for item in after["input"])
    assert len(first["input"]) < len(compacting["input"])
