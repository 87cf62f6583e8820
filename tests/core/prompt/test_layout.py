"""PromptLayout: stable-first prompts rendered for every provider, with cache points placed."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import PromptLayout, Tool

MANUAL = "To reset the router, hold the button for ten seconds. " * 200  # ~2000 words


def _layout() -> PromptLayout:
    return (
        PromptLayout()
        .tools(
            Tool.define(
                "lookup_order", "Find an order by id.", {"type": "object", "properties": {"id": {"type": "string"}}}
            )
        )
        .system("You are the support agent for Acme routers.")
        .context(MANUAL, title="manual")
        .user("How do I reset it?")
    )


@pytest.mark.parametrize(
    ("provider", "fmt", "model"),
    [
        ("anthropic", "anthropic", "claude-sonnet-4-5"),
        ("bedrock", "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("openai", "openai-chat", "gpt-5.6"),
        ("openai", "openai-responses", "gpt-5.6"),
    ],
)
def test_renders_valid_payloads_for_every_provider(provider: str, fmt: str, model: str, sdk: Any) -> None:
    payload, report = _layout().render(provider, model=model, format=fmt, max_tokens=200)
    sdk.validate(fmt, payload)
    assert report.placed, report.explain()


def test_the_context_is_cached_for_long_and_the_question_is_the_tail() -> None:
    payload, report = _layout().render("anthropic", model="claude-sonnet-4-5", max_tokens=200)
    first_turn = payload["messages"][0]["content"]
    assert first_turn[0]["type"] == "document"
    assert first_turn[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert first_turn[1] == {"type": "text", "text": "How do I reset it?", "cache_control": {"type": "ephemeral"}}
    assert {d.breakpoint.id for d in report.placed} == {"tail", "stable"}


def test_an_explicit_cache_point_is_kept_and_counted() -> None:
    layout = PromptLayout().system("Policy. " * 1500).cache_point(ttl="1h").user("Question?")
    payload, report = layout.render("anthropic", model="claude-sonnet-4-5", max_tokens=50)
    assert payload["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert [(d.breakpoint.id, d.code) for d in report.merged] == [("system", "existing")]


def test_history_then_the_new_question() -> None:
    layout = (
        PromptLayout()
        .system("Be brief.")
        .history([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
        .user("What can you do?")
    )
    request = layout.build(model="claude-sonnet-4-5", max_tokens=20)
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]


def test_cache_point_needs_something_before_it() -> None:
    with pytest.raises(ValueError, match="add something"):
        PromptLayout().cache_point()


def test_layout_lint_sees_the_system_prompt() -> None:
    findings = PromptLayout().system("Now: 2026-11-23T10:15:00Z").user("hi").lint(model="claude-sonnet-4-5")
    assert "timestamp" in [f.code for f in findings]
