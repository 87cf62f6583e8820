"""Parsing a payload and rendering it back, with no breakpoints placed, gives the same payload, in every format."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import Request, detect_format

FORMATS = ["anthropic", "bedrock", "openai-chat", "openai-responses"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_generated_payloads_are_valid_sdk_requests(fmt: str, data: st.DataObject, gen: Any, sdk: Any) -> None:
    # The generator itself must only produce what the provider SDK accepts, or the other properties prove nothing.
    payload = data.draw(gen.for_format(fmt))
    sdk.validate(fmt, payload)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_parse_then_render_returns_the_same_payload(fmt: str, data: st.DataObject, gen: Any) -> None:
    payload = data.draw(gen.for_format(fmt))
    request = Request.parse(payload, format=fmt)
    rendered = request.render()
    assert rendered == payload
    assert list(rendered) == list(payload)  # same key order, so the same JSON bytes


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_format_is_detected_from_the_payload_shape(fmt: str, data: st.DataObject, gen: Any) -> None:
    payload = data.draw(gen.for_format(fmt))
    provider = {"anthropic": "anthropic", "bedrock": "bedrock"}.get(fmt, "openai")
    assert detect_format(payload, provider=provider) == fmt


def test_parsing_does_not_alias_the_callers_payload() -> None:
    payload = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
    }
    rendered = Request.parse(payload).render()
    rendered["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral"}
    rendered["messages"].append({"role": "assistant", "content": "b"})
    assert payload == {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
    }
