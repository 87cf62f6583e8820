"""A two-agent CrewAI crew with caching switched on by one LLM parameter, run against the local emulator.

The triage agent (Anthropic) reads the product manual through a tool; the writer agent (Bedrock Converse) turns
its notes into a reply. Both LLMs get `cache_points` with one shared ledger, so the table at the end shows each
agent's cache reads and writes, cost and savings. The emulator answers like the real APIs (its usage comes from
cachepoint's provider cache model, not from this script), so the numbers are what the providers would report
for these requests. No network, no API keys.

    python examples/crewai_support_crew.py
"""

from __future__ import annotations

import os
import tempfile

# CrewAI sends anonymous telemetry and may offer to trace to its cloud: off for an offline example.
os.environ.update(
    OTEL_SDK_DISABLED="true",
    CREWAI_DISABLE_TELEMETRY="true",
    CREWAI_DISABLE_TRACKING="true",
    CREWAI_TRACING_ENABLED="false",
    CREWAI_STORAGE_DIR="cachepoint-example",
    XDG_DATA_HOME=tempfile.mkdtemp(prefix="cachepoint-example-"),
)

from crewai.tools import tool
from rich.console import Console

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints
from crewai import Agent, Crew, Process, Task

MANUAL = (
    "Acme X200 router manual. "
    + (
        "To restore factory settings, hold the reset button for ten seconds until the light blinks amber. "
        "Firmware updates install overnight; do not unplug the router while the light is purple. "
    )
    * 40
)
STYLE_GUIDE = "Acme support style guide: short sentences, no jargon, one clear next step, sign as Acme Support. " * 80


@tool("read_manual")
def read_manual(section: str) -> str:
    """Read a section of the Acme X200 router manual."""
    return f"[{section}] {MANUAL}"


def replies() -> list[Reply]:
    """What the emulated model says, in order: triage reads the manual, then answers; the writer answers."""
    notes = "Reset: hold the button 10 s until the light blinks amber."
    return [
        Reply(tool_calls=(ToolCall("read_manual", {"section": "reset"}),)),
        Reply(notes),
        Reply(tool_calls=(ToolCall("read_manual", {"section": "firmware"}),)),
        Reply("Firmware: never unplug while the light is purple."),
        Reply("Hello! Hold the reset button for ten seconds until the light blinks amber. Acme Support"),
        Reply("Hello! Leave the router plugged in while the light is purple. Acme Support"),
    ]


def main() -> None:
    ledger = UsageLedger()
    with Emulator(reply=replies()) as emulator:
        for name, value in emulator.env().items():  # Bedrock: AWS_ENDPOINT_URL_BEDROCK_RUNTIME and dummy keys
            os.environ[name] = value
        triage_llm = LLM(
            model="anthropic/claude-sonnet-4-5",
            base_url=emulator.url,
            api_key="emulator",
            cache_points=CachePoints(ledger=ledger),
        )
        writer_llm = LLM(
            model="bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", cache_points=CachePoints(ledger=ledger)
        )
        triage = Agent(
            role="Triage",
            goal="Find what the manual says about the customer's problem.",
            backstory="You know where everything is in the Acme manuals. " + MANUAL,
            llm=triage_llm,
            tools=[read_manual],
        )
        writer = Agent(
            role="Writer",
            goal="Write the customer a friendly, correct reply.",
            backstory=STYLE_GUIDE,
            llm=writer_llm,
        )
        tasks = [
            Task(
                description=f"Customer question: {q}",
                expected_output="Notes from the manual.",
                agent=triage,
                name=f"triage {topic}",
            )
            for topic, q in (("reset", "How do I reset my router?"), ("firmware", "Can I unplug during updates?"))
        ] + [
            Task(
                description=f"Write the reply about the {topic}.",
                expected_output="A reply.",
                agent=writer,
                name=f"reply {topic}",
            )
            for topic in ("reset", "firmware")
        ]
        crew = Crew(agents=[triage, writer], tasks=tasks, process=Process.sequential, name="support")
        result = crew.kickoff()

        console = Console(width=150)
        console.print(f"[bold]Final answer:[/bold] {result.raw}\n")
        console.print(f"{len(emulator.requests)} requests reached the emulator (token counts included).\n")
        console.print(ledger.to_rich_table("agent", title="Cache usage per agent"))
        console.print(ledger.to_rich_table("agent", "task", title="... and per task"))
        reads = ledger.stats().cache_read_tokens
        assert reads > 0, "the crew's later turns should read the cached prefix"


if __name__ == "__main__":
    main()
