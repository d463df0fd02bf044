"""Retries before the first byte (providers/http_upstream.py), against the scripted upstream
through a real responsa process. Its `scripted` provider retries twice (the default) after
0.02 s, doubled, unless the upstream says how long to wait."""

from __future__ import annotations

import time

import pytest
from openai import OpenAI

from tests.support.grammar import assert_valid_stream
from tests.support.scripted_upstream import (
    Drop,
    Refusal,
    Script,
    ScriptedUpstream,
    chunk,
    text_script,
)
from tests.support.sdk import streamed_events


def _arrivals(scripted: ScriptedUpstream, model: str) -> list[float]:
    name = model.removeprefix("scripted/")
    return [when for asked, when in scripted.arrivals if asked == name]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_refusal_then_success_completes(client: OpenAI, scripted: ScriptedUpstream,
                                          status: int) -> None:
    script = text_script("fine")
    script.refusals = [Refusal(status)]
    model = scripted.play(script)
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "fine"
    assert len(_arrivals(scripted, model)) == 2


def test_503_three_times_fails_naming_the_provider(client: OpenAI,
                                                   scripted: ScriptedUpstream) -> None:
    script = text_script("never")
    script.refusals = [Refusal(503, body={"error": {"message": "overloaded"}})] * 3
    model = scripted.play(script)
    response = client.responses.create(model=model, input="x")
    assert response.status == "failed" and response.error is not None
    assert response.error.message == "Provider 'scripted': HTTP 503: overloaded"
    assert response.error.code == "server_error"
    assert len(_arrivals(scripted, model)) == 3  # the first try and max_retries = 2


@pytest.mark.parametrize("header", [{"Retry-After": "1"}, {"retry-after-ms": "700"}],
                         ids=["retry-after", "retry-after-ms"])
def test_the_upstreams_wait_is_honored(client: OpenAI, scripted: ScriptedUpstream,
                                       header: dict[str, str]) -> None:
    script = text_script("patient")
    script.refusals = [Refusal(429, headers=header)]
    model = scripted.play(script)
    response = client.responses.create(model=model, input="x")
    assert response.status == "completed"
    first, second = _arrivals(scripted, model)
    assert second - first >= 0.7  # the configured backoff alone would be about 0.02 s


def test_a_wait_beyond_the_timeout_is_not_taken(client: OpenAI,
                                                scripted: ScriptedUpstream) -> None:
    script = text_script("too late")
    script.refusals = [Refusal(429, headers={"Retry-After": "30"})]  # the timeout is 5 s
    model = scripted.play(script)
    started = time.monotonic()
    response = client.responses.create(model=model, input="x")
    assert time.monotonic() - started < 5
    assert response.status == "failed" and response.error is not None
    assert "HTTP 429" in response.error.message
    assert len(_arrivals(scripted, model)) == 1


def test_client_errors_are_not_retried(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script(status=400, error={"error": {"message": "bad schema"}}))
    with pytest.raises(Exception, match="bad schema"):
        client.responses.create(model=model, input="x")
    assert len(_arrivals(scripted, model)) == 1


def test_nothing_is_retried_after_the_first_byte(client: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"content": "half"}), Drop()], done=False))
    events = streamed_events(client, model=model, input="x")
    assert events[-1]["type"] == "response.failed"
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["half"]
    assert len(_arrivals(scripted, model)) == 1
