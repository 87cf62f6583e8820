"""`plan_cache_points` decides what `apply_cache_points` writes: on random requests of every format (markers the
caller already placed included), the plan's breakpoints are exactly those of the rendered payload, its decisions
and key are the report's, and it never renders or changes the request."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import Request, apply_cache_points, plan_cache_points, rolling
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.providers import model_info

CASES = [("anthropic", "anthropic"), ("bedrock", "bedrock"), ("openai-chat", "openai"), ("openai-responses", "openai")]


@pytest.mark.parametrize(("fmt", "provider"), CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_plan_is_what_apply_cache_points_writes(
    fmt: str, provider: str, data: st.DataObject, gen: Any, words: Any
) -> None:
    payload = data.draw(gen.for_format(fmt))
    strategy = data.draw(st.sampled_from([None, rolling(2)]))
    request = Request.parse(payload, format=fmt)
    model = request.model
    assert model is not None
    info = get_format(fmt).effective_info(model_info(provider, model))
    view = request.positions(info=info, counter=words)
    plan = plan_cache_points(view, strategy, provider=provider)

    rendered, report = apply_cache_points(payload, strategy, provider=provider, format=fmt, counter=words)
    after = Request.parse(rendered, format=fmt).positions(info=info, counter=words)
    assert [(b.position, b.ttl, b.source) for b in plan.breakpoints] == sorted(
        ((b.position, b.ttl, b.source) for b in after.breakpoints), key=lambda b: b[0]
    )
    assert [(d.outcome, d.code, d.breakpoint, d.ttl, d.tokens) for d in plan.decisions] == [
        (d.outcome, d.code, d.breakpoint, d.ttl, d.tokens) for d in report.decisions
    ]
    assert (plan.cache_key, plan.warnings) == (report.cache_key, report.warnings)
    assert rendered.get("prompt_cache_key") == (plan.cache_key if provider == "openai" else None)
    assert Request.parse(payload, format=fmt) == request  # planning changed nothing
