"""The analyzer's ``crewai_default`` scenario places what CrewAI's native Anthropic provider really sends.

A real crew (one agent, a tool call, then the answer) runs on CrewAI's own ``LLM`` without cachepoint against the
emulator; every model call's breakpoints, read back from the body as it went out, must be exactly those the
scenario places on the same request without them: the system prompt and the task's user prompt, 5 minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
from crewai.tools import tool

from cachepoint.core.analyze.incumbents import crewai_default
from cachepoint.core.analyze.scenarios import place, unmarked
from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.providers import model_info
from crewai import LLM, Agent, Crew, Task

BACKSTORY = "You have memorized the Acme router manual, every page of it. " * 100


@tool("lookup_manual")
def lookup_manual(topic: str) -> str:
    """Look a topic up in the router manual."""
    return f"Manual section on {topic}: " + "Hold the reset button for ten seconds. " * 40


TOOL_THEN_ANSWER = [Reply(tool_calls=(ToolCall("lookup_manual", {"topic": "reset"}),)), Reply("Hold reset 10 s.")]


@pytest.mark.emulator_reply(TOOL_THEN_ANSWER)
def test_the_scenario_places_what_crewai_sent(emulator: Emulator, wire: Any) -> None:
    llm = LLM(model="anthropic/claude-sonnet-4-5", base_url=emulator.url, api_key="test-key")
    agent = Agent(
        role="Support agent", goal="Answer from the manual.", backstory=BACKSTORY, llm=llm, tools=[lookup_manual]
    )
    task = Task(description="A customer asks how to reset the router.", expected_output="One sentence.", agent=agent)
    Crew(agents=[agent], tasks=[task]).kickoff()
    calls = wire.completions(emulator)
    assert len(calls) == 2  # the tool call, then the answer
    info = model_info("anthropic", "claude-sonnet-4-5")
    for call in calls:
        view = call.request.positions(info=info)
        sent = {(b.position, b.ttl or info.default_ttl) for b in view.breakpoints}
        assert len(sent) == 2  # CrewAI marks the system prompt and the task prompt
        ours = place(unmarked(view), crewai_default(), info=info, provider="anthropic")
        assert {(b.position, b.ttl or info.default_ttl) for b in ours.breakpoints} == sent
