"""What a CrewAI user streaming an LLM sees: the text of each ``LLMStreamChunkEvent`` of a call (shared by the
CrewAI provider tests, which check a replayed stream streams as the live one did)."""

from __future__ import annotations

import asyncio
from typing import Any


def chunk_events(llm: Any, messages: Any, *, runs: int, is_async: bool) -> list[tuple[Any, list[str]]]:
    """``runs`` calls of ``llm`` on ``messages``: each one's answer and the chunks CrewAI emitted for it, in order."""
    from crewai.events import crewai_event_bus
    from crewai.events.types.llm_events import LLMStreamChunkEvent

    results: list[tuple[Any, list[str]]] = []
    with crewai_event_bus.scoped_handlers():
        seen: list[str] = []

        @crewai_event_bus.on(LLMStreamChunkEvent)
        def chunk(source: Any, event: LLMStreamChunkEvent) -> None:
            seen.append(event.chunk)

        for _ in range(runs):
            answer = asyncio.run(llm.acall(messages)) if is_async else llm.call(messages)
            crewai_event_bus.flush()
            results.append((answer, list(seen)))
            seen.clear()
    return results
