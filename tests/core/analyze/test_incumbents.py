"""Incumbent placements as analyzer scenarios: spec parsing, what each places, and OpenAI's cache key.

Whether they match what the frameworks really send is checked against the frameworks themselves, in their own
environments (tests/langchain/test_incumbent_scenarios.py, tests/crewai/test_incumbent_scenario.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze import analyze, parse_strategy
from cachepoint.core.analyze.scenarios import place
from cachepoint.core.cli import main
from cachepoint.core.prompt import Request
from cachepoint.core.providers import model_info

TRACES = Path(__file__).parents[3] / "examples" / "traces"
SYSTEM = "Policy rule. " * 900


def conversation(provider: str = "anthropic") -> dict[str, Any]:
    if provider == "bedrock":
        return {
            "modelId": "anthropic.claude-sonnet-4-5",
            "system": [{"text": SYSTEM}],
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "lookup",
                            "description": "Find an order. " * 400,
                            "inputSchema": {"json": {}},
                        }
                    }
                ]
            },
            "messages": [
                {"role": "user", "content": [{"text": "Order A-1 broke. " * 50}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok " * 90}]}}]},
            ],
        }
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "tools": [{"name": "lookup", "description": "Find an order. " * 400, "input_schema": {"type": "object"}}],
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": "Order A-1 broke. " * 50},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok " * 90}]},
        ],
    }


def placed(spec: str, provider: str = "anthropic") -> list[tuple[str, str | None]]:
    payload = conversation(provider)
    model = "claude-sonnet-4-5" if provider == "anthropic" else "anthropic.claude-sonnet-4-5"
    info = model_info(provider, model)
    view = Request.parse(payload, provider=provider).positions(info=info)
    scenario = parse_strategy(spec)
    assert scenario.strategy is not None
    found = place(view, scenario.strategy, info=info, provider=provider)
    return [(view[b.position].path, b.ttl) for b in found.breakpoints]


def test_langchain_anthropic_middleware_marks_tools_system_and_the_last_block() -> None:
    assert placed("langchain_anthropic_middleware") == [
        ("tools[0]", None),
        ("system", None),
        ("messages[2].content[0]", None),
    ]
    assert {ttl for _, ttl in placed('langchain_anthropic_middleware(ttl="1h")')} == {"1h"}
    # Four messages counted (three plus the system prompt): below five, nothing is cached.
    assert placed("langchain_anthropic_middleware(min_messages_to_cache=5)") == []
    assert len(placed("langchain_anthropic_middleware(min_messages_to_cache=4)")) == 3


def test_langchain_aws_middleware_adds_the_end_of_history_point() -> None:
    assert placed("langchain_aws_middleware", "bedrock") == [
        ("toolConfig.tools[0]", None),
        ("system[0]", None),
        ("messages[1].content[0]", None),
        ("messages[2].content[0]", None),
    ]


def test_crewai_marks_the_task_prompt_not_the_tool_turns() -> None:
    assert placed("crewai_default") == [("system", None), ("messages[0].content", None)]
    assert placed("crewai_default", "bedrock") == []  # CrewAI's native Bedrock provider places no cachePoint


def test_litellm_marks_the_system_message() -> None:
    assert placed("litellm_injection") == [("system", None)]
    assert placed("litellm_injection", "bedrock") == [("system[0]", None)]


def test_openai_automatic_sends_no_key_or_the_one_given() -> None:
    payload = {
        "model": "gpt-4.1",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}],
    }
    info = model_info("openai", "gpt-4.1")
    view = Request.parse(payload).positions(info=info)
    keys = {}
    for spec in ("auto", "openai_automatic", 'openai_automatic("docs-bot")', "litellm_injection"):
        scenario = parse_strategy(spec)
        assert scenario.strategy is not None
        found = place(view, scenario.strategy, info=info, provider="openai")
        assert found.breakpoints == ()
        keys[spec] = found.cache_key
    assert keys["auto"] is not None  # auto derives one from the system prompt
    assert keys["openai_automatic"] is None
    assert keys['openai_automatic("docs-bot")'] == "docs-bot"
    assert keys["litellm_injection"] is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('langchain_anthropic_middleware(ttl="2h")', "ttl: expected '5m' or '1h'"),
        ("langchain_aws_middleware(min_messages_to_cache=-1)", "min_messages_to_cache: expected >= 0"),
        ('openai_automatic("")', "prompt_cache_key: expected a non-empty string"),
        ("crewai_default(1)", "strategy 'crewai_default(1)'"),
    ],
)
def test_bad_arguments_name_the_field(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_strategy(spec)


def test_the_cli_replays_incumbents(capsys: pytest.CaptureFixture[str]) -> None:
    trace = TRACES / "support_agent.jsonl.xz"
    assert main(["analyze", str(trace), "--strategy", "auto", "--strategy", "langchain_anthropic_middleware"]) == 0
    assert "langchain_anthropic_middleware" in capsys.readouterr().out


def test_incumbents_cost_more_than_auto_on_the_support_agent_trace() -> None:
    specs = ["auto", "langchain_anthropic_middleware", "crewai_default", "litellm_injection"]
    report = analyze(TRACES / "support_agent.jsonl.xz", strategies=specs)
    costs = {s.name: s.cost_usd or 0.0 for s in report.scenarios}
    assert all(costs["auto"] < costs[name] for name in specs[1:]), costs
