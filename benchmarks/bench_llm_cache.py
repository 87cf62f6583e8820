"""LangChain LLM-cache hits: `CachepointLLMCache` vs LangChain's own caches, through ``model.invoke``.

A hit through the whole LangChain path (``GenericFakeChatModel.invoke``: callbacks, the prompt and llm_string
LangChain builds for the key, the lookup, converting the hit) with:

- memory: ``CachepointLLMCache(MemoryStore())`` vs LangChain's ``InMemoryCache`` (a dict holding the objects);
- Redis: ``CachepointLLMCache(RedisStore(url))`` vs a Redis cache built the way ``langchain-redis``'s
  ``RedisCache`` is (MD5 keys, ``dumps`` / ``loads`` values, a sync redis-py client), with a plain ``GET`` in
  place of RedisJSON's ``JSON.GET`` (``langchain-redis`` needs the RedisJSON module, which the Redis here does not
  have). A bare redis-py ``GET`` of the bytes cachepoint stored is shown as the floor.

Timings are interleaved round by round in one process, so machine noise hits every side alike; each figure is
the median per call over the rounds (min-max in brackets), each round the mean of a batch.

    python benchmarks/bench_llm_cache.py            # full run
    python benchmarks/bench_llm_cache.py --quick    # a short run (CI smoke)
    python benchmarks/bench_llm_cache.py --cpu      # memory rows in CPU time of this thread (a loaded machine)

Goal (issue 11): memory hit through ``model.invoke`` <= 1.05x LangChain's ``InMemoryCache``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache, InMemoryCache
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, convert_to_messages

import bench_response_cache  # the same workloads as the response cache's benchmark
from cachepoint.core.stores import MemoryStore, RedisStore
from cachepoint.langchain import CachepointLLMCache
from cachepoint.langchain.llm_cache import ALLOWED_OBJECTS
from timing import per_batch_sync

GOAL = 1.05
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

warnings.filterwarnings("ignore", message=".*is in beta.*")  # langchain_core.load.loads


def answer() -> AIMessage:
    return AIMessage(
        "The capital of France is Paris. It has been the capital since 987.",
        usage_metadata={"input_tokens": 28, "output_tokens": 16, "total_tokens": 44},
        response_metadata={"model_name": "fake", "stop_reason": "end_turn"},
    )


def as_messages(request: dict[str, Any]) -> list[BaseMessage]:
    """A workload of bench_response_cache (a provider request) as the LangChain messages that send it."""
    system = [SystemMessage(request["system"])] if isinstance(request.get("system"), str) else []
    return [*system, *convert_to_messages(request["messages"])]


def tiny() -> list[BaseMessage]:
    return as_messages(bench_response_cache.tiny()[0])


def chat() -> list[BaseMessage]:
    return as_messages(bench_response_cache.chat()[0])


WORKLOADS: dict[str, Callable[[], list[BaseMessage]]] = {"tiny": tiny, "chat": chat}


def model_with(cache: BaseCache) -> GenericFakeChatModel:
    def answers() -> Iterator[AIMessage]:
        while True:
            yield answer()

    return GenericFakeChatModel(messages=answers(), cache=cache)


class RedisGetCache(BaseCache):
    """``langchain-redis``'s ``RedisCache`` design on plain GET/SET: ``<prefix>:<md5(prompt)>:<md5(llm_string)>``
    keys, the generations as ``dumps`` JSON, a sync redis-py client."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, prompt: str, llm_string: str) -> str:
        p = hashlib.md5(prompt.encode()).hexdigest()  # what langchain-redis keys with
        s = hashlib.md5(llm_string.encode()).hexdigest()
        return f"{self.prefix}:{p}:{s}"

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        raw = self.redis.get(self._key(prompt, llm_string))
        if raw is None:
            return None
        return loads(raw.decode(), allowed_objects=ALLOWED_OBJECTS)  # type: ignore[no-any-return]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        self.redis.set(self._key(prompt, llm_string), dumps(list(return_val)))

    def clear(self, **kwargs: Any) -> None:
        for key in self.redis.scan_iter(f"{self.prefix}:*"):
            self.redis.delete(key)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} us"


#: The clock of the memory rows: wall time, or with ``--cpu`` this thread's CPU time, which leaves out the time other
#: processes of a shared machine take the core away (a memory hit never waits on I/O). Redis rows use wall time.
MEMORY_CLOCK: Callable[[], float] = time.perf_counter


def run(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    size: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(rounds):
        for label, op in contenders.items():
            timings[label].extend(per_batch_sync(op, 1, size, clock=clock))
    return timings


def report(title: str, timings: dict[str, list[float]], baseline: str, ratios: Sequence[str]) -> dict[str, float]:
    """Medians with min-max; each ratio is the median of the per-round ratios (the two sides of one round ran
    back to back, so a load spike on the shared machine hits both), with their min-max."""
    print(f"\n{title}")
    medians = {label: statistics.median(ts) for label, ts in timings.items()}
    for label, ts in timings.items():
        print(f"  {label:<44} {us(medians[label])}  [{us(min(ts)).strip()} - {us(max(ts)).strip()}]")
    out = {}
    for label in ratios:
        per_round = [a / b for a, b in zip(timings[label], timings[baseline], strict=True)]
        out[label] = statistics.median(per_round)
        print(f"  ratio {label.strip()} / baseline: {out[label]:.3f}  [{min(per_round):.3f} - {max(per_round):.3f}]")
    return out


def bench_memory(messages: list[BaseMessage], rounds: int, size: int) -> float:
    theirs = model_with(InMemoryCache())
    ours = model_with(CachepointLLMCache(MemoryStore(max_entries=10_000)))
    for model in (theirs, ours):
        model.invoke(messages)  # the miss that fills the cache
    assert ours.invoke(messages).response_metadata.get("cachepoint_cache") == "hit"
    timings = run(
        {
            "InMemoryCache: invoke hit (baseline)": lambda: theirs.invoke(messages),
            "CachepointLLMCache(MemoryStore): invoke hit": lambda: ours.invoke(messages),
        },
        rounds,
        size,
        MEMORY_CLOCK,
    )
    ratios = report(
        "memory", timings, "InMemoryCache: invoke hit (baseline)", ["CachepointLLMCache(MemoryStore): invoke hit"]
    )
    parts(theirs, ours, messages, rounds, size)
    return ratios["CachepointLLMCache(MemoryStore): invoke hit"]


def parts(
    theirs: GenericFakeChatModel, ours: GenericFakeChatModel, messages: list[BaseMessage], rounds: int, size: int
) -> None:
    """Where a memory hit's time goes: the two caches' ``lookup`` alone, and the parts of cachepoint's."""
    prompt = dumps([m.model_copy(update={"id": None}) for m in messages])  # LangChain's key strings
    llm_string = ours._get_llm_string()
    mine, baseline = ours.cache, theirs.cache
    assert isinstance(mine, CachepointLLMCache)
    assert isinstance(baseline, BaseCache)
    keyed = mine._keyed(prompt, llm_string)
    key = keyed.key
    assert key is not None
    assert mine.lookup(prompt, llm_string) is not None
    core = mine.response_cache
    found = core.sync.lookup_key(key, load=mine._load)
    assert found is not None
    timings = run(
        {
            "InMemoryCache.lookup": lambda: baseline.lookup(prompt, llm_string),
            "CachepointLLMCache.lookup": lambda: mine.lookup(prompt, llm_string),
            "  part: key memo (the key strings to the store key)": lambda: mine._keyed(prompt, llm_string),
            "  part: core ResponseCache.sync.lookup_key": lambda: core.sync.lookup_key(key, load=mine._load),
            "  part: hit objects and marking": lambda: mine._hit(found.value, keyed),
        },
        rounds,
        size * 10,
        MEMORY_CLOCK,
    )
    print("\nwhere a memory hit's time goes (the lookup alone, no model.invoke)")
    for label, ts in timings.items():
        print(f"  {label:<44} {us(statistics.median(ts))}")
    inside = TimedLookups(MemoryStore(max_entries=10_000))
    timed = model_with(inside)
    timed.invoke(messages)
    inside.spent.clear()
    for _ in range(rounds):
        per_batch_sync(lambda: timed.invoke(messages), 1, size)
    print(f"  {'CachepointLLMCache.lookup inside invoke':<44} {us(statistics.median(inside.spent))}  (cold caches)")


class TimedLookups(CachepointLLMCache):
    """Times each ``lookup`` LangChain makes: inside ``invoke`` the lookup's code and data are cold in the CPU's
    caches (LangChain ran in between), unlike in the tight loops above."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self.spent: list[float] = []

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        started = MEMORY_CLOCK()
        try:
            return super().lookup(prompt, llm_string)
        finally:
            self.spent.append(MEMORY_CLOCK() - started)


def bench_redis(messages: list[BaseMessage], rounds: int, size: int) -> None:
    import redis

    prefix = f"bench-llm-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(REDIS_URL, prefix=prefix)
    cache = CachepointLLMCache(store)
    ours = model_with(cache)
    baseline = RedisGetCache(REDIS_URL, prefix=f"{prefix}lcr")
    theirs = model_with(baseline)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for model in (theirs, ours):
            model.invoke(messages)
        assert ours.invoke(messages).response_metadata.get("cachepoint_cache") == "hit"
        keys = client.keys(f"{prefix}langchain*")
        assert len(keys) == 1, keys
        stored = keys[0]

        async def ainvoke_ours() -> object:
            return await ours.ainvoke(messages)

        loop = asyncio.new_event_loop()
        timings = run(
            {
                "redis-py GET + loads, MD5 keys (baseline)": lambda: theirs.invoke(messages),
                "CachepointLLMCache(RedisStore): invoke hit": lambda: ours.invoke(messages),
                "  same, ainvoke (native alookup)": lambda: loop.run_until_complete(ainvoke_ours()),
                "  floor: bare redis-py GET of its bytes": lambda: client.get(stored),
            },
            rounds,
            size,
        )
        loop.close()
        report(
            "Redis (127.0.0.1, sync redis-py vs cachepoint's RedisStore)",
            timings,
            "redis-py GET + loads, MD5 keys (baseline)",
            ["CachepointLLMCache(RedisStore): invoke hit", "  same, ainvoke (native alookup)"],
        )
    finally:
        cache.clear()
        baseline.clear()
        client.close()


def redis_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis comparison")
    parser.add_argument("--cpu", action="store_true", help="time the memory rows in this thread's CPU time")
    args = parser.parse_args(argv)
    global MEMORY_CLOCK  # noqa: PLW0603 - one switch for the whole run
    MEMORY_CLOCK = time.thread_time if args.cpu else time.perf_counter
    rounds, size = (5, 100) if args.quick else (41, 300)
    if not args.no_redis and not redis_reachable():
        print(f"Redis is not reachable at {REDIS_URL}: the Redis comparison is skipped (set REDIS_URL)")
        args.no_redis = True
    clock = "CPU time of this thread" if args.cpu else "wall time"
    print(f"LangChain LLM cache, hit through model.invoke ({rounds} interleaved rounds of {size} calls)")
    print(f"memory rows: {clock}; Redis rows: wall time")
    worst = 0.0
    for name, workload in WORKLOADS.items():
        print(f"\n== workload: {name} ==", end="")
        worst = max(worst, bench_memory(workload(), rounds, size))
        if not args.no_redis:
            bench_redis(workload(), rounds, max(size // 3, 30))
    verdict = "met" if worst <= GOAL else "MISSED"
    print(f"\ngoal: memory hit <= {GOAL}x InMemoryCache: {verdict} (worst workload {worst:.3f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
