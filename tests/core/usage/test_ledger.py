"""`UsageLedger`: aggregation by labels, ratios, cost, latency by hit and miss, concurrency, merging and the
dict / rich / Prometheus exports. Expected figures are computed by hand from the recorded calls."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from cachepoint.core.providers import UnknownModelWarning
from cachepoint.core.usage import CacheUsage, UsageLedger

SONNET = "claude-sonnet-4-6"


def anthropic_call(uncached: int, read: int, write: int, output: int, ttl: str = "5m") -> CacheUsage:
    return CacheUsage(
        provider="anthropic",
        model=SONNET,
        input_tokens=uncached + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl={ttl: write},
        output_tokens=output,
    )


def agent_run(ledger: UsageLedger) -> None:
    """A planner that writes its prompt once and reads it twice; a coder that misses twice."""
    ledger.record(anthropic_call(10, 0, 5000, 100), {"agent": "planner", "tenant": "acme"}, ttft_s=1.2)
    ledger.record(anthropic_call(20, 5000, 0, 80), {"agent": "planner", "tenant": "acme"}, ttft_s=0.3)
    ledger.record(anthropic_call(30, 5000, 0, 60), {"agent": "planner", "tenant": "acme"}, ttft_s=0.5)
    ledger.record(anthropic_call(900, 0, 0, 40), {"agent": "coder", "tenant": "acme"}, duration_s=2.0)
    ledger.record(anthropic_call(700, 0, 0, 20), {"agent": "coder", "tenant": "globex"}, duration_s=3.0)


def test_totals_and_ratios() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    s = ledger.stats()
    assert s.calls == 5
    assert (s.hit_calls, s.miss_calls, s.write_calls) == (2, 3, 1)
    assert s.hit_rate == pytest.approx(2 / 5)
    assert s.write_rate == pytest.approx(1 / 5)
    assert s.input_tokens == 5010 + 5020 + 5030 + 900 + 700  # 16660
    assert s.cache_read_tokens == 10000
    assert s.cache_write_tokens == 5000
    assert s.uncached_input_tokens == 10 + 20 + 30 + 900 + 700
    assert s.cached_token_ratio == pytest.approx(10000 / 16660)
    assert dict(s.cache_write_by_ttl) == {"5m": 5000}
    assert s.output_tokens == 300
    assert dict(s.unreported) == {"reasoning_tokens": 5}


def test_cost_and_savings_by_hand() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    planner = ledger.stats(agent="planner")
    # Sonnet 4.6 per million: in 3, out 15, read 0.3, 5m write 3.75.
    # with cache:    (10*3 + 5000*3.75 + 100*15) + (20*3 + 5000*0.3 + 80*15) + (30*3 + 5000*0.3 + 60*15)
    #              = 20280 + 2760 + 2490 = 25530
    # without cache: (5010 + 5020 + 5030)*3 + (100 + 80 + 60)*15 = 45180 + 3600 = 48780
    assert planner.cost_usd == pytest.approx(0.02553)
    assert planner.without_cache_usd == pytest.approx(0.04878)
    assert planner.savings_usd == pytest.approx(0.02325)
    coder = ledger.stats(agent="coder")
    assert coder.savings_usd == pytest.approx(0.0)  # no cache use: no savings, no loss


def test_latency_split_shows_the_ttft_gain() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    planner = ledger.stats(agent="planner")
    assert planner.ttft_miss.count == 1
    assert planner.ttft_miss.mean_s == pytest.approx(1.2)
    assert planner.ttft_hit.count == 2
    assert planner.ttft_hit.mean_s == pytest.approx(0.4)
    assert planner.ttft_gain_s == pytest.approx(0.8)
    coder = ledger.stats(agent="coder")
    assert coder.duration_miss.mean_s == pytest.approx(2.5)
    assert coder.duration_hit.count == 0
    assert coder.duration_gain_s is None


def test_filters_and_groups() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    assert ledger.stats(tenant="acme").calls == 4
    assert ledger.stats({"tenant": "acme", "agent": "coder"}).calls == 1
    assert ledger.stats(tenant="nobody").calls == 0
    groups = ledger.group_by("tenant", "agent")
    assert list(groups) == [("acme", "coder"), ("acme", "planner"), ("globex", "coder")]
    assert groups[("acme", "planner")].hit_calls == 2
    by_model = ledger.group_by("provider", "model")  # added from the usage automatically
    assert list(by_model) == [("anthropic", SONNET)]
    assert ledger.group_by("node") == {(None,): ledger.group_by("node")[(None,)]}
    assert ledger.group_by("node")[(None,)].calls == 5
    assert {k: v.calls for k, v in ledger.group_by("agent", where={"tenant": "globex"}).items()} == {("coder",): 1}


def test_unknown_reads_and_prices_are_counted_not_hidden() -> None:
    ledger = UsageLedger()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        ledger.record(CacheUsage(provider="vllm", model="Qwen/Qwen3-8B", input_tokens=1543, output_tokens=20))
        ledger.record(
            CacheUsage(
                provider="vllm", model="Qwen/Qwen3-8B", input_tokens=1600, cache_read_tokens=1536, output_tokens=9
            )
        )
    s = ledger.stats()
    assert s.hit_rate == 1.0  # one call reported reads, and it hit; the other is unknown, not a miss
    assert (s.hit_calls, s.miss_calls) == (1, 0)
    assert s.cached_token_ratio == pytest.approx(1536 / 1600)
    assert s.unreported["cache_read_tokens"] == 1
    assert s.cost_usd is None
    assert s.savings_usd is None
    assert s.unpriced_calls == 2


def test_partly_priced_ledger() -> None:
    ledger = UsageLedger()
    ledger.record(anthropic_call(10, 0, 0, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        ledger.record(CacheUsage(provider="anthropic", model="claude-internal", input_tokens=5, cache_read_tokens=0,
                                 cache_write_tokens=0, output_tokens=1))  # fmt: skip
    s = ledger.stats()
    assert s.priced_calls == 1
    assert s.unpriced_calls == 1
    assert s.cost_usd == pytest.approx((10 * 3 + 10 * 15) / 1e6)


def test_labels_are_validated() -> None:
    ledger = UsageLedger()
    with pytest.raises(TypeError, match="labels"):
        ledger.record(anthropic_call(1, 0, 0, 1), {"node": ["a"]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="CacheUsage"):
        ledger.record({"input_tokens": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency"):
        ledger.record(anthropic_call(1, 0, 0, 1), ttft_s=-1.0)
    assert ledger.stats().calls == 0  # nothing half-recorded
    ledger.record(anthropic_call(1, 0, 0, 1), {"step": 3, "skipped": None})
    assert list(ledger.group_by("step")) == [("3",)]


def test_threads_and_tasks_lose_nothing() -> None:
    ledger = UsageLedger()
    per_worker, workers = 400, 8

    def work(i: int) -> None:
        for _ in range(per_worker):
            ledger.record(anthropic_call(1, 100, 0, 1), {"worker": str(i % 2)}, duration_s=0.01)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(i: int) -> None:
        for _ in range(per_worker):
            ledger.record(anthropic_call(1, 100, 0, 1), {"worker": str(i % 2)}, duration_s=0.01)
            await asyncio.sleep(0)

    async def run_tasks() -> None:
        await asyncio.gather(*(task(i) for i in range(workers)))

    asyncio.run(run_tasks())
    total = 2 * per_worker * workers
    s = ledger.stats()
    assert s.calls == total
    assert s.cache_read_tokens == 100 * total
    assert s.duration_hit.count == total
    assert sum(g.calls for g in ledger.group_by("worker").values()) == total


def test_merge_and_dict_round_trip() -> None:
    a, b = UsageLedger(), UsageLedger()
    agent_run(a)
    agent_run(b)
    a.merge(b)
    s = a.stats()
    assert s.calls == 10
    assert s.cache_read_tokens == 20000
    assert s.ttft_hit.count == 4
    restored = UsageLedger.from_dict(json.loads(json.dumps(a.to_dict())))
    assert restored.to_dict() == a.to_dict()
    a.merge(a)  # merging a ledger into itself doubles it, without deadlock
    assert a.stats().calls == 20
    with pytest.raises(ValueError, match="latency_buckets"):
        a.merge(UsageLedger(latency_buckets=(1.0, 2.0)))
    with pytest.raises(ValueError, match="format"):
        UsageLedger.from_dict({"format": 99})


def test_to_dict_reports_derived_figures() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    data = ledger.to_dict()
    assert data["total"]["hit_rate"] == pytest.approx(0.4)
    assert data["total"]["tokens"]["cache_read_tokens"] == 10000
    planner = next(s for s in data["series"] if s["labels"].get("agent") == "planner")
    assert planner["labels"] == {"agent": "planner", "model": SONNET, "provider": "anthropic", "tenant": "acme"}
    assert planner["stats"]["ttft_gain_s"] == pytest.approx(0.8)
    json.dumps(data)  # JSON-ready


def test_prometheus_exposition_parses_and_adds_up() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    # Label values that need escaping, and keys that need renaming.
    ledger.record(anthropic_call(5, 0, 0, 1), {"node": 'say "hi"\\\nthere', "token_type": "x", "my-key": "v"})
    text = ledger.to_prometheus()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    calls = families["cachepoint_llm_calls"]
    assert calls.type == "counter"
    by_outcome: dict[str, float] = {}
    for sample in calls.samples:
        by_outcome[sample.labels["cache_outcome"]] = by_outcome.get(sample.labels["cache_outcome"], 0) + sample.value
    assert by_outcome == {"hit": 2, "miss": 4}
    odd = [s for s in calls.samples if "node" in s.labels]
    assert odd[0].labels["node"] == 'say "hi"\\\nthere'
    assert odd[0].labels["label_token_type"] == "x"
    assert odd[0].labels["my_key"] == "v"
    reads = [s.value for s in families["cachepoint_llm_tokens"].samples if s.labels["token_type"] == "cache_read"]
    assert sum(reads) == 10000
    latency = families["cachepoint_llm_latency_seconds"]
    assert latency.type == "histogram"
    ttft_hit_count = [
        s.value
        for s in latency.samples
        if s.name.endswith("_count") and s.labels["latency_kind"] == "ttft" and s.labels["cache_outcome"] == "hit"
    ]
    assert ttft_hit_count == [2]
    inf_bucket = [
        s.value
        for s in latency.samples
        if s.name.endswith("_bucket") and s.labels["le"] == "+Inf" and s.labels["latency_kind"] == "ttft"
        and s.labels["cache_outcome"] == "hit"
    ]  # fmt: skip
    assert inf_bucket == [2]
    savings = families["cachepoint_llm_savings_usd"]
    assert savings.type == "gauge"
    with pytest.raises(ValueError, match="prefix"):
        ledger.to_prometheus(prefix="bad prefix")


def test_rich_table_renders_rows_and_total() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    console = Console(width=250, record=True, color_system=None)
    console.print(ledger.to_rich_table("agent"))
    text = console.export_text()
    assert "planner" in text
    assert "coder" in text
    assert "total" in text
    assert "67%" in text  # planner hit rate: 2 of 3
    assert "$0.0255" in text  # planner cost
    assert "TTFT" in text
    console.print(ledger)  # __rich__: per provider and model
    assert SONNET in console.export_text()


def test_replays_are_hits_without_tokens_or_cost_and_survive_a_round_trip() -> None:
    # A node the LangGraph node cache served twice, next to its one real call.
    ledger = UsageLedger()
    ledger.record(anthropic_call(10, 0, 5000, 100), {"node": "plan"}, duration_s=2.0)
    ledger.record_replay({"node": "plan"}, duration_s=0.002)
    ledger.record_replay({"node": "plan"}, duration_s=0.004)
    s = ledger.group_by("node")[("plan",)]
    assert (s.calls, s.replayed_calls, s.hit_calls, s.miss_calls) == (3, 2, 2, 1)
    assert s.hit_rate == pytest.approx(2 / 3)
    assert s.write_rate == pytest.approx(1 / 3)  # the replays wrote nothing to the provider's cache
    assert s.input_tokens == 5010  # only the real call's tokens
    assert s.cached_token_ratio == 0.0
    assert s.cost_usd == pytest.approx(ledger.stats(provider="anthropic").cost_usd)
    assert s.unpriced_calls == 0
    assert s.duration_hit.count == 2
    assert s.duration_hit.mean_s == pytest.approx(0.003)
    assert s.duration_miss.mean_s == pytest.approx(2.0)
    restored = UsageLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    assert restored.to_dict() == ledger.to_dict()
    assert restored.stats().replayed_calls == 2
    console = Console(width=250, record=True, color_system=None)
    console.print(ledger.to_rich_table("node"))
    assert "3 (2 replayed)" in console.export_text()
    with pytest.raises(ValueError, match="seconds"):
        ledger.record_replay({"node": "plan"}, duration_s=-1.0)


def test_a_dump_from_before_replays_still_loads() -> None:
    ledger = UsageLedger()
    agent_run(ledger)
    data = json.loads(json.dumps(ledger.to_dict()))
    for series in data["series"]:
        del series["raw"]["replayed_calls"]
    assert UsageLedger.from_dict(data).stats().calls == 5


def test_a_replay_of_a_known_call_saves_what_that_call_cost() -> None:
    # A response cache answered the same request again: the user saved what the first call cost, and paid nothing.
    first = anthropic_call(10, 0, 5000, 100)
    ledger = UsageLedger()
    paid = ledger.record(first, {"node": "plan"})
    saved = ledger.record_replay({"node": "plan"}, saved=first)
    assert saved is not None
    assert saved.total_usd == pytest.approx(paid.total_usd)
    s = ledger.stats(node="plan")
    assert (s.calls, s.replayed_calls, s.hit_calls) == (2, 1, 1)
    assert s.cost_usd == pytest.approx(paid.total_usd)  # the replay cost nothing
    assert s.replay_savings_usd == pytest.approx(paid.total_usd)
    assert s.savings_usd == pytest.approx(paid.without_cache_usd - paid.total_usd + paid.total_usd)
    assert s.input_tokens == first.input_tokens  # no tokens were sent for the replay
    restored = UsageLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    assert restored.stats().replay_savings_usd == pytest.approx(paid.total_usd)
    assert ledger.to_dict()["total"]["replay_savings_usd"] == pytest.approx(paid.total_usd)


def test_a_replay_of_an_unpriced_call_saves_nothing_it_cannot_price() -> None:
    ledger = UsageLedger()
    unknown = CacheUsage(provider="vllm", model="llama", input_tokens=9, output_tokens=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        assert ledger.record_replay({"node": "a"}, saved=unknown) is None
    s = ledger.stats()
    assert (s.calls, s.replayed_calls, s.cost_usd, s.replay_savings_usd) == (1, 1, 0.0, 0.0)
