"""Per-call overhead of the LangChain adapter: the same calls on LangChain's fake chat model with and without it.

The model is ``GenericFakeChatModel`` (langchain-core's own fake) presenting itself as ChatAnthropic
(``_llm_type`` ``anthropic-chat``, a Claude model id), so the adapter does all it does for a real Anthropic model:
mirror the request ChatAnthropic would send, view it, place `auto`, write the markers on copies of the messages
(and tools), record usage. Nothing goes over the network. The request is an agent's: a ~2k-token system prompt,
20 tools bound (Anthropic tool definitions), and a conversation that grows by tool rounds (a human turn, two
AI tool calls with their results, the answer) to 60 messages; one call per agent step (each request ends with
the human turn or a tool result), so a round is 30 calls whose conversation grows to 60 messages.

Measured in one process, interleaved call by call (baseline, then each adapter, on the same messages):

- baseline: ``model.bind(tools=...).invoke(messages)``;
- ``CachepointCallbackHandler``: the same with the handler in ``callbacks`` (one handler for every call);
- ``with_cache_points``: ``with_cache_points(model.bind(tools=...)).invoke(messages)`` (one wrapper).

Added time per call = adapter call - baseline call on the same step of the same round; median and p99 over
every call.

    python benchmarks/bench_adapters_langchain.py            # 30 rounds of 30 calls
    python benchmarks/bench_adapters_langchain.py --quick    # 3 rounds (CI smoke)
    python benchmarks/bench_adapters_langchain.py --cpu      # in this thread's CPU time (a loaded machine)

Goal (issue 16): at most 0.5 ms added per call (median).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from cachepoint.langchain import CachepointCallbackHandler, with_cache_points
from timing import median_p99_row, timed

WORDS = [
    "router",
    "firmware",
    "reset",
    "channel",
    "band",
    "mesh",
    "node",
    "gateway",
    "subnet",
    "lease",
    "dns",
    "guest",
    "password",
    "update",
    "log",
]


def words(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n))


#: Set during the warm-up: the fake model counts the cache markers it is sent (a check that the adapters place).
SEEN: list[int] = []


class FakeAnthropic(GenericFakeChatModel):
    """LangChain's fake chat model, identified as ChatAnthropic (what the adapters key on)."""

    model: str = "claude-sonnet-4-5"

    @property
    def _llm_type(self) -> str:
        return "anthropic-chat"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        if SEEN:
            SEEN[0] += repr(messages).count("cache_control") + repr(kwargs.get("tools")).count("cache_control")
        return super()._generate(messages, *args, **kwargs)


TOOLS = [
    {
        "name": f"lookup_{i}",
        "description": f"Look up record kind {i} of a customer's router. " + words(90, i),
        "input_schema": {"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": []},
    }
    for i in range(20)
]


def conversation(length: int = 60) -> list[BaseMessage]:
    """A system prompt and an agent conversation of ``length`` messages: human turns followed by tool rounds."""
    out: list[BaseMessage] = [SystemMessage("You are the support agent of Acme routers. " + words(1500, 1))]
    n = 0
    while len(out) - 1 < length:
        out.append(HumanMessage(f"Question {n}: " + words(30, n)))
        for k in range(2):
            call_id = f"toolu_{n:03d}_{k}"
            out.append(
                AIMessage("", tool_calls=[{"name": f"lookup_{k}", "args": {"customer_id": "c-7"}, "id": call_id}])
            )
            out.append(ToolMessage("Record: " + words(120, n + k), tool_call_id=call_id))
        out.append(AIMessage("Here is what to do: " + words(40, n)))
        n += 1
    return out[: length + 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cpu", action="store_true", help="time in this thread's CPU time (a loaded machine)")
    args = parser.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    rounds = 3 if args.quick else args.rounds
    messages = conversation(60)
    usage = {"input_tokens": 9000, "output_tokens": 12, "total_tokens": 9012}
    model = FakeAnthropic(messages=itertools.repeat(AIMessage("Hold reset for ten seconds.", usage_metadata=usage)))
    bound = model.bind(tools=TOOLS)
    handler = CachepointCallbackHandler()
    wrapped = with_cache_points(bound)
    config = {"callbacks": [handler]}
    # The request of each agent step: the system prompt and the conversation through a human or tool message.
    steps = [k for k in range(1, 61) if isinstance(messages[k], (HumanMessage, ToolMessage))]
    # Warm-up: imports, first-use caches, and a check that each adapter does place markers.
    for k in steps:
        bound.invoke(messages[: k + 1])
    for run in (lambda m: bound.invoke(m, config=config), wrapped.invoke):
        SEEN[:] = [0]
        for k in steps:
            run(messages[: k + 1])
        assert SEEN[0] >= 2 * len(steps), SEEN  # system and tail at least, on every call
    SEEN.clear()
    assert handler.ledger.stats().calls == len(steps)
    added: dict[str, list[float]] = {"CachepointCallbackHandler": [], "with_cache_points": []}
    base: list[float] = []
    for _ in range(rounds):
        for k in steps:
            sent = messages[: k + 1]
            plain = timed(lambda sent=sent: bound.invoke(sent), clock=clock)
            base.append(plain)
            added["CachepointCallbackHandler"].append(
                timed(lambda sent=sent: bound.invoke(sent, config=config), clock=clock) - plain
            )
            added["with_cache_points"].append(timed(lambda sent=sent: wrapped.invoke(sent), clock=clock) - plain)
    print(f"# LangChain adapter overhead ({rounds} rounds x {len(steps)} calls, conversation up to 60 messages)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"clock: {'CPU time of this thread' if args.cpu else 'wall time'}\n")
    print("| per call | median | p99 |")
    print("|---|---:|---:|")
    print(median_p99_row("`GenericFakeChatModel.invoke` (baseline)", base))
    for name, values in added.items():
        print(median_p99_row(f"added by `{name}`", values, bold=True))


if __name__ == "__main__":
    main()
