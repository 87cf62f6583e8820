"""OpenAI's ``prompt_cache_key`` as `apply_cache_points` derives it: from the static layers (tools and system
prompt), whatever their length and whatever the strategy places, so every request and every turn of a workload
carries the same key. (The analyzer's test_openai_cache_key replays what that does to hit rates.)"""

from __future__ import annotations

from typing import Any

from cachepoint.core.prompt import Request, apply_cache_points, cache_until, derive_cache_key, plan_cache_points


def test_the_key_is_the_static_prefix_whatever_the_minimum_and_the_turn(words: Any) -> None:
    system = {"role": "system", "content": "Answer from the documents."}  # far below the 1024 minimum
    first = {"model": "gpt-5.6", "messages": [system, {"role": "user", "content": "x " * 1500}]}
    later = {
        "model": "gpt-5.6",
        "messages": [*first["messages"], {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}],
    }
    other = {"model": "gpt-5.6", "messages": [system, {"role": "user", "content": "y " * 1500}]}
    keys = []
    for body in (first, later, other):
        out, report = apply_cache_points(body, provider="openai", counter=words)
        assert report.cache_key == out["prompt_cache_key"]
        assert "static prefix through messages[0].content" in (report.cache_key_source or "")
        keys.append(out["prompt_cache_key"])
    static = Request.parse(first).positions(counter=words)[0].prefix_hash
    assert keys == [derive_cache_key("gpt-5.6", static)] * 3


def test_no_tools_or_system_prompt_no_derived_key(words: Any) -> None:
    # Single-turn requests sharing a document but not the question: a key made from the first message would
    # differ per request and split them; OpenAI's own routing on the opening keeps them together.
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "x " * 1500}]}
    out, report = apply_cache_points(body, provider="openai", counter=words)
    assert "prompt_cache_key" not in out
    assert report.cache_key is None
    assert (report.cache_key_source or "").startswith("not set")


def test_the_key_does_not_depend_on_the_strategy(words: Any) -> None:
    # A system prompt above the minimum and a strategy that only caches the tail: the key is still the system's.
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "x " * 2000}, {"role": "user", "content": "What changed?"}],
    }
    request = Request.parse(body)
    view = request.positions(provider="openai", counter=words)
    plan = plan_cache_points(view, cache_until(-1), provider="openai")
    assert plan.cache_key == derive_cache_key("gpt-4o", view[0].prefix_hash)
    other = {**body, "messages": [body["messages"][0], {"role": "user", "content": "Anything else?"}]}
    out, _ = apply_cache_points(other, cache_until(-1), provider="openai", counter=words)
    assert out["prompt_cache_key"] == plan.cache_key


def test_a_tool_set_alone_names_the_workload(words: Any) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Look up an order.", "parameters": {}}}]
    body = {"model": "gpt-4o", "tools": tools, "messages": [{"role": "user", "content": "Where is order 7?"}]}
    out, report = apply_cache_points(body, provider="openai", counter=words)
    view = Request.parse(body).positions(counter=words)
    assert view[0].layer == "tools"
    assert out["prompt_cache_key"] == derive_cache_key("gpt-4o", view[0].prefix_hash)
    assert "tools[0]" in (report.cache_key_source or "")
