"""Response-cache hit overhead: ResponseCache.get_or_call on a memory hit vs a bare dict lookup, same key.

The baseline is the least any exact-match cache can do: compute the request's key (`cachepoint.core.keys`, the
same function the cache uses) and look it up in a dict that holds the response object. The cache does that plus
the policy check, a store read, envelope checks (magic, version, length, CRC-32 or HMAC), decoding the response
into a fresh object, the kind checks, and exact counting. An entry of an in-process MemoryStore is checked
(CRC-32 or HMAC) the first time the cache's codec reads those bytes; later reads of the same immutable bytes
parse them without checking again (see `Codec._decode_entry`): the "decode, verified entry" part. Bytes that
came from anywhere else (an L2 tier, a caller's `set`) sit in a new entry and are checked. Timings are
interleaved round by round in one process so machine noise hits both sides alike; each figure is the median
per call over batches.

`GuardedStore(Memory)` shows the circuit breaker's cost on an in-process hit (a `TieredStore` wrapped whole in a
guard pays the same on its L1 hits): the guard runs the operation's first step itself and arms no timer when it
finishes there, and the breaker admits calls in its closed state without a lock.

Three workloads, because the key costs what the request weighs:

- ``tiny``:  one short user message, a ~300-byte answer.
- ``chat``:  a system prompt and a six-message conversation, a ~1.5 KB answer.
- ``agent``: a long system prompt, six tools, a 20-message tool-using conversation, a ~2 KB answer.

    python benchmarks/bench_response_cache.py            # full run
    python benchmarks/bench_response_cache.py --quick    # a short run (CI smoke)

Goal (issue 2): median memory-hit latency / dict lookup with the same key computation <= 2.0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.codec import Codec
from cachepoint.core.keys import cache_key
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from timing import per_batch, per_batch_sync

GOAL = 2.0
NAMESPACE = "bench"


def answer(text_chars: int) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5",
        "content": [{"type": "text", "text": ("The capital of France is Paris. " * 200)[:text_chars]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_read_input_tokens": 1800},
    }


def tiny() -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "model": "claude-sonnet-5",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0,
        "max_tokens": 256,
    }
    return request, answer(60)


def chat() -> tuple[dict[str, Any], dict[str, Any]]:
    turns = [
        "Hi! My order #48213 has not arrived yet and the tracking page has said 'in transit' for six days now.",
        "I'm sorry about the delay. Let me look up order #48213 for you; could you confirm the delivery postcode?",
        "Sure, it is 75011. I paid for express shipping, which was supposed to take two business days at most.",
        "Thank you. The parcel left our Lyon warehouse on Monday and was handed to the carrier the same evening.",
        "So where is it now? I need it before the weekend, it is a birthday present for my daughter.",
        "The carrier's last scan shows it at the Paris-Nord hub. Would you like me to open an investigation?",
    ]
    request = {
        "model": "claude-sonnet-5",
        "system": "You are the customer-support assistant of ACME Parcels. Be concise, polite and factual. " * 8,
        "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)],
        "temperature": 0,
        "max_tokens": 1024,
    }
    return request, answer(1200)


def agent() -> tuple[dict[str, Any], dict[str, Any]]:
    tools = [
        {
            "name": f"tool_{i}",
            "description": f"Looks up records of kind {i} in the company database and returns them as JSON. " * 2,
            "input_schema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "free-text query"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                    "fields": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["query"],
            },
        }
        for i in range(6)
    ]
    messages: list[dict[str, Any]] = []
    for i in range(10):
        messages.append(
            {"role": "user", "content": [{"type": "text", "text": f"Step {i}: find the records for case {i}."}]}
        )
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Looking up case {i} in the database now."},
                    {"type": "tool_use", "id": f"toolu_{i:04d}", "name": "tool_1", "input": {"query": f"case {i}"}},
                ],
            }
        )
    messages[-2]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    request = {
        "model": "claude-sonnet-5",
        "system": [{"type": "text", "text": "You are an operations agent. Follow the runbook exactly. " * 70}],
        "tools": tools,
        "messages": messages,
        "temperature": 0,
        "max_tokens": 4096,
    }
    return request, answer(1800)


WORKLOADS: dict[str, Callable[[], tuple[dict[str, Any], dict[str, Any]]]] = {
    "tiny": tiny,
    "chat": chat,
    "agent": agent,
}


def us(seconds: float) -> str:
    return f"{seconds * 1e6:7.2f} us"


async def bench(
    request: dict[str, Any], response: dict[str, Any], rounds: int, batches: int, size: int
) -> dict[str, float]:
    memory = MemoryStore(max_entries=1000)
    cache = ResponseCache(memory, CachePolicy(NAMESPACE))
    guarded = ResponseCache(GuardedStore(MemoryStore(max_entries=1000)), CachePolicy(NAMESPACE))
    signed = ResponseCache(MemoryStore(max_entries=1000), CachePolicy(NAMESPACE), codec=Codec(signing_keys=b"k" * 32))

    async def upstream() -> dict[str, Any]:
        return response

    for each in (cache, guarded, signed):
        await each.get_or_call(request, upstream)
        assert (await each.get_or_call(request, upstream)).hit
    table = {cache_key(request, namespace=NAMESPACE): response}
    key = cache.key_for(request)
    raw = await memory.get(key)
    assert raw is not None

    async def dict_hit() -> object:
        return table.get(cache_key(request, namespace=NAMESPACE))

    async def cache_hit() -> object:
        return (await cache.get_or_call(request, upstream)).value

    async def guarded_hit() -> object:
        return (await guarded.get_or_call(request, upstream)).value

    async def signed_hit() -> object:
        return (await signed.get_or_call(request, upstream)).value

    async def store_get() -> object:
        return await memory.get(key)

    context = key.encode()

    async def decode() -> object:
        return cache.codec.try_decode(raw, context=context)

    entry = memory.get_entry(key)
    assert entry is not None
    assert entry.note is cache.codec  # verified by the hits above

    async def decode_verified() -> object:
        return cache.codec._decode_entry(entry, context)

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "dict lookup + key (baseline)": dict_hit,
        "ResponseCache.get_or_call hit": cache_hit,
        "  same, GuardedStore(Memory)": guarded_hit,
        "  same, signed codec (HMAC)": signed_hit,
        "  part: MemoryStore.get": store_get,
        "  part: codec.try_decode": decode,
        "  part: decode, verified entry": decode_verified,
    }
    timings: dict[str, list[float]] = {label: [] for label in contenders}
    timings["  part: key computation (sync)"] = []
    timings["  part: dict.get (sync)"] = []
    for op in contenders.values():
        await per_batch(op, 3, size)
    for _ in range(rounds):  # interleaved: drift and noise land on every contender alike
        for label, op in contenders.items():
            timings[label] += await per_batch(op, batches, size)
        timings["  part: key computation (sync)"] += per_batch_sync(
            lambda: cache_key(request, namespace=NAMESPACE), batches, size
        )
        timings["  part: dict.get (sync)"] += per_batch_sync(lambda: table.get(key), batches, size)
    medians = {label: statistics.median(t) for label, t in timings.items()}
    medians["entry bytes"] = len(raw)
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    rounds, batches, size = (3, 10, 300) if args.quick else (7, 30, 2000)
    print(f"Python {sys.version.split()[0]}; median per call over {rounds * batches} batches of {size} calls")
    verdicts = []
    for name, build in WORKLOADS.items():
        request, response = build()
        medians = asyncio.run(bench(request, response, rounds, batches, size))
        base = medians["dict lookup + key (baseline)"]
        print(f"\n{name}: entry {int(medians.pop('entry bytes'))} bytes")
        for label, median in medians.items():
            print(f"  {label:34s} {us(median)}   ratio {median / base:5.2f}")
        ratio = medians["ResponseCache.get_or_call hit"] / base
        verdicts.append((name, ratio))
    print()
    for name, ratio in verdicts:
        verdict = "meets" if ratio <= GOAL else "MISSES"
        print(f"{name:6s} memory hit / dict lookup with the same key = {ratio:.2f} ({verdict} the goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
