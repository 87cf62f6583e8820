"""Properties of `apply_cache_points` over random requests, for every provider.

Every compiled payload validates against the provider SDK's request types, never carries more markers than the
provider allows (counting markers already present and automatic caching), keeps longer TTLs first, differs from
the input only by markers (and OpenAI's prompt_cache_key), keeps the caller's markers, and is a fixed point.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import Request, apply_cache_points
from cachepoint.core.prompt.ttl import ttl_order_ok
from cachepoint.core.providers import model_info

CASES = [
    ("anthropic", "anthropic"),
    ("bedrock", "bedrock"),
    ("openai-chat", "openai"),
    ("openai-responses", "openai"),
]
SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


def _limit(fmt: str, provider: str, payload: dict[str, Any]) -> int:
    info = model_info(provider, payload.get("model") or payload.get("modelId"))
    if not info.explicit:
        return 0
    if provider == "openai":
        options = payload.get("prompt_cache_options") or {}
        implicit = options.get("mode") != "explicit"
        return info.max_breakpoints - (1 if implicit and _has_user_or_tool(fmt, payload) else 0)
    return info.max_breakpoints


def _has_user_or_tool(fmt: str, payload: dict[str, Any]) -> bool:
    items = payload.get("messages") if fmt == "openai-chat" else payload.get("input")
    if isinstance(items, str):
        return True
    return any(i.get("role") in ("user", "tool") or i.get("type") == "function_call_output" for i in items or [])


def _ttls(found: list[Any], default: str) -> list[str | None]:
    # OpenAI's automatic-caching models have no duration TTL ("in_memory"); their markers default to 30m.
    default = default if default[0].isdigit() else "30m"
    return [f.ttl or default for f in found]


@pytest.mark.parametrize(("fmt", "provider"), CASES)
@SETTINGS
@given(data=st.data())
def test_compiled_payloads_obey_the_provider_rules(  # noqa: PLR0917 - pytest passes fixtures by position
    fmt: str, provider: str, data: st.DataObject, gen: Any, sdk: Any, markers: Any
) -> None:
    payload = data.draw(gen.for_format(fmt))
    before = markers.find(fmt, payload)
    info = model_info(provider, payload.get("model") or payload.get("modelId"))
    limit = _limit(fmt, provider, payload)
    assume(len(before) <= max(limit, 0) or not info.explicit)
    assume(ttl_order_ok(_ttls(before, info.default_ttl)))

    out, report = apply_cache_points(payload, provider=provider)

    sdk.validate(fmt, out)
    after = markers.find(fmt, out)
    if info.explicit:
        assert len(after) <= limit, report.explain()
    else:
        assert after == before, "a model without explicit markers gets none added"
    assert ttl_order_ok(_ttls(after, info.default_ttl)), report.explain()
    assert markers.strip(fmt, out) == markers.strip(fmt, payload), "only markers may differ"
    assert len(after) == len(before) + len(report.placed)
    # The caller's markers are all still there, on the same blocks.
    kept_before = {(loc, b.cache) for loc, b in Request.parse(payload, format=fmt).locators() if b.cache}
    kept_after = {(loc, b.cache) for loc, b in Request.parse(out, format=fmt).locators() if b.cache}
    assert kept_before <= kept_after
    # Every decision is explained.
    assert all(d.code and d.detail for d in report.dropped)
    assert all(d.path for d in report.placed)


@pytest.mark.parametrize(("fmt", "provider"), CASES)
@SETTINGS
@given(data=st.data())
def test_applying_twice_changes_nothing(fmt: str, provider: str, data: st.DataObject, gen: Any, markers: Any) -> None:
    payload = data.draw(gen.for_format(fmt, markers=False))
    once, _ = apply_cache_points(payload, provider=provider)
    twice, report = apply_cache_points(once, provider=provider)
    assert twice == once
    assert report.placed == []


@pytest.mark.parametrize(("fmt", "provider"), CASES)
@SETTINGS
@given(data=st.data())
def test_the_input_payload_is_never_modified(fmt: str, provider: str, data: st.DataObject, gen: Any) -> None:
    import copy

    payload = data.draw(gen.for_format(fmt))
    snapshot = copy.deepcopy(payload)
    apply_cache_points(payload, provider=provider)
    assert payload == snapshot
