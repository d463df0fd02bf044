"""Driving responsa with the official SDK."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

from tests.support.grammar import assert_valid_stream


def streamed_events(client: OpenAI, **params: Any) -> list[dict[str, Any]]:
    """A streamed create's events as JSON, checked against the event grammar on the way."""
    with client.responses.create(stream=True, **params) as stream:
        events = [event.model_dump(mode="json", exclude_unset=True) for event in stream]
    assert_valid_stream(events)
    return events
