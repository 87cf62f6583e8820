"""Add one callback handler to a LangChain chat model: its requests carry cache breakpoints, its cache usage is
counted, and its traffic is recorded for `cachepoint analyze`.

Runs against the local emulator (no network, no API key): `python examples/langchain_callback.py`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from rich.console import Console

from cachepoint.core.emulator import Emulator
from cachepoint.core.traces import read_trace
from cachepoint.langchain import CachepointCallbackHandler

MANUAL = "You are the support desk of Acme routers. Answer from the manual and cite its section. " * 120

with Emulator(reply="Hold the reset button for ten seconds.") as emulator:
    trace = Path(tempfile.mkdtemp()) / "support.jsonl"
    handler = CachepointCallbackHandler(recorder=trace, labels={"app": "helpdesk"})
    model = ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator", max_retries=0)

    messages: list[BaseMessage] = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    for question in ("It is an AX-1.", "Still red after a restart.", "Thanks!"):
        answer = model.invoke(messages, config={"callbacks": [handler], "metadata": {"thread_id": "ticket-7"}})
        messages += [answer, HumanMessage(question)]

    # The markers went out; the messages in our list never carried one.
    assert "cache_control" in str(emulator.requests[-1].body)
    assert not any("cache_control" in str(m.content) for m in messages)

    Console(width=160).print(handler.ledger.to_rich_table("app", "model"))
    print(f"{len(list(read_trace(trace)))} requests recorded in {trace}: run `cachepoint analyze {trace}`")
