"""The analyzer places strategies on a view it built once; that must be exactly what `apply_cache_points` (which
parses and views the request again, then renders it) puts in the payload."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze import parse_strategy, place
from cachepoint.core.prompt import Request, apply_cache_points
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.providers import model_info

SPECS = ["auto", "stable_prefix", "cache_until(-1)", 'cache_at("system", -1)', "rolling(2)", "rolling(3, max_points=2)"]
MODELS = [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5.6-sol"), ("openai", "gpt-4o")]


def _text(n: int, tag: str) -> str:
    return " ".join(f"{tag}w" for _ in range(n))


@st.composite
def payloads(draw: st.DrawFn, provider: str, model: str) -> dict[str, Any]:
    system = _text(draw(st.integers(0, 1500)), "s")
    turns = draw(st.integers(1, 30))
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        messages.append({"role": role, "content": _text(draw(st.integers(1, 300)), f"m{i}")})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "next"})
    if provider == "anthropic":
        body: dict[str, Any] = {"model": model, "max_tokens": 64, "messages": messages}
        if system.strip():
            body["system"] = system
        if draw(st.booleans()):
            body["tools"] = [
                {"name": f"t{k}", "description": _text(200, "d"), "input_schema": {"type": "object"}}
                for k in range(draw(st.integers(1, 3)))
            ]
        return body
    lead = [{"role": "system", "content": system}] if system.strip() else []
    return {"model": model, "messages": lead + messages}


@pytest.mark.parametrize(("provider", "model"), MODELS)
@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_place_matches_apply_cache_points(provider: str, model: str, spec: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(provider, model))
    strategy = parse_strategy(spec).strategy
    assert strategy is not None
    request = Request.parse(payload, provider=provider)
    info = get_format(request.format).effective_info(model_info(provider, model))
    placed = place(request.positions(info=info), strategy, info=info, provider=provider)

    rendered, _ = apply_cache_points(payload, strategy, provider=provider)
    view = Request.parse(rendered, provider=provider).positions(info=info)
    expected = tuple(sorted((b.position, b.ttl, b.source == "implicit") for b in view.breakpoints))
    assert placed.breakpoints == expected
    assert placed.cache_key == rendered.get("prompt_cache_key")
