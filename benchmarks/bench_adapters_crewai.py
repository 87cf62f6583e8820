"""Per-call overhead of the CrewAI adapter: the same calls on a stub CrewAI LLM with and without cachepoint.

CrewAI and LangChain cannot share an environment (pyproject ``conflicts``), so this runs in its own (``nox -s
bench`` runs it in a CrewAI environment after the others). The LLM is CrewAI's native Anthropic provider
(``AnthropicCompletion``, a ``BaseLLM``) with its SDK client stubbed: ``messages.create`` answers in process with
a real ``anthropic.types.Message``, so CrewAI does all its own work (formatting the messages, its
``cache_control`` flags, parsing the answer and its usage) and nothing goes over the network. With cachepoint
(`cachepoint.crewai.enable_cache_points`), every request is also given `auto`'s breakpoints (CrewAI's own
markers adopted) and its usage recorded in a ledger.

The request is an agent's: a ~2k-token system prompt, 20 tools, and a conversation that grows by tool rounds (a
human turn, two tool calls with their results, the answer) to 60 messages; one call per agent step (each request
ends with the human turn or a tool result): 30 calls a round. Interleaved call by call in one process; added time
per call = cachepoint call - plain call on the same step of the same round; median and p99 over every call.

    python benchmarks/bench_adapters_crewai.py            # 30 rounds of 30 calls
    python benchmarks/bench_adapters_crewai.py --quick    # 3 rounds (CI smoke)
    python benchmarks/bench_adapters_crewai.py --cpu      # in this thread's CPU time (a loaded machine)

Goal (issue 16): at most 0.5 ms added per call (median).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from anthropic.types import Message, TextBlock, Usage
from crewai.llms.providers.anthropic.completion import AnthropicCompletion

from cachepoint.crewai import enable_cache_points
from timing import median_p99_row, timed

WORDS = ["router", "firmware", "reset", "channel", "band", "mesh", "node", "gateway", "subnet", "lease", "dns"]


def words(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n))


class _StubMessages:
    def __init__(self) -> None:
        self.markers = 0  # cache markers seen (a check that cachepoint places them)
        self.count = False

    def create(self, **params: Any) -> Message:
        if self.count:
            self.markers += repr(params).count("cache_control")
        return Message(
            id="msg_bench",
            type="message",
            role="assistant",
            model=params["model"],
            content=[TextBlock(type="text", text="Hold reset for ten seconds.")],
            stop_reason="end_turn",
            usage=Usage(input_tokens=900, output_tokens=12, cache_read_input_tokens=8000),
        )


class _StubClient:
    """The Anthropic SDK client, answered in process."""

    def __init__(self) -> None:
        self.messages = _StubMessages()
        self.beta = self  # ``client.beta.messages``: the same stub
        self.base_url = "http://stub.invalid"  # read by the adapter to name the endpoint it caches


class StubAnthropic(AnthropicCompletion):
    """CrewAI's native Anthropic LLM whose SDK client answers in process."""

    def _get_sync_client(self) -> Any:
        return STUB


STUB = _StubClient()

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"lookup_{i}",
            "description": f"Look up record kind {i} of a customer's router. " + words(90, i),
            "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": []},
        },
    }
    for i in range(20)
]


def conversation(length: int = 60) -> list[dict[str, Any]]:
    """A system prompt and an agent conversation of ``length`` messages (OpenAI-style, as CrewAI passes them)."""
    out: list[dict[str, Any]] = [
        {"role": "system", "content": "You are the support agent of Acme routers. " + words(1500, 1)}
    ]
    n = 0
    while len(out) - 1 < length:
        out.append({"role": "user", "content": f"Question {n}: " + words(30, n)})
        for k in range(2):
            call_id = f"toolu_{n:03d}_{k}"
            call = {"id": call_id, "type": "function", "function": {"name": f"lookup_{k}", "arguments": "{}"}}
            out.append({"role": "assistant", "content": "", "tool_calls": [call]})
            out.append({"role": "tool", "tool_call_id": call_id, "content": "Record: " + words(120, n + k)})
        out.append({"role": "assistant", "content": "Here is what to do: " + words(40, n)})
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
    plain = StubAnthropic(model="claude-sonnet-4-5", api_key="bench")
    cached = enable_cache_points(StubAnthropic(model="claude-sonnet-4-5", api_key="bench"))
    steps = [k for k in range(1, 61) if messages[k]["role"] in ("user", "tool")]
    # Warm-up, and a check that cachepoint does place markers (CrewAI's own are on the system prompt only here).
    for k in steps:
        plain.call(messages[: k + 1], tools=TOOLS)
    STUB.messages.count = True
    for k in steps:
        cached.call(messages[: k + 1], tools=TOOLS)
    assert STUB.messages.markers >= 2 * len(steps), STUB.messages.markers
    STUB.messages.count = False
    base: list[float] = []
    added: list[float] = []
    for _ in range(rounds):
        for k in steps:
            sent = messages[: k + 1]
            before = timed(lambda sent=sent: plain.call(sent, tools=TOOLS), clock=clock)
            base.append(before)
            added.append(timed(lambda sent=sent: cached.call(sent, tools=TOOLS), clock=clock) - before)
    print(f"# CrewAI adapter overhead ({rounds} rounds x {len(steps)} calls, conversation up to 60 messages)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"clock: {'CPU time of this thread' if args.cpu else 'wall time'}\n")
    print("| per call | median | p99 |")
    print("|---|---:|---:|")
    print(median_p99_row("`AnthropicCompletion.call`, stub client (baseline)", base))
    print(median_p99_row("added by cachepoint", added, bold=True))


if __name__ == "__main__":
    main()
