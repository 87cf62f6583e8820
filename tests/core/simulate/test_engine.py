"""The engine block prefix cache (vLLM / SGLang), on token ids, worked out block by block."""

from __future__ import annotations

from collections.abc import Callable

from cachepoint.core.simulate import EngineCache, EngineOptions, SimPrompt, SimResult, Simulator, TokenPrompt

Check = Callable[[SimResult], SimResult]


def test_reuse_is_whole_blocks_and_leaves_one_token_to_compute() -> None:
    cache = EngineCache(block_size=16)
    tokens = list(range(33))  # two full blocks (32 tokens) + 1
    assert cache.request(tokens).cached_tokens == 0
    assert cache.request(tokens).cached_tokens == 32
    exact = list(range(100, 132))  # exactly two blocks
    cache.request(exact)
    # All 32 tokens are cached, but at least one must be computed: (32 - 1) // 16 = 1 block reused.
    assert cache.request(exact).cached_tokens == 16


def test_a_changed_token_ends_the_match_at_its_block() -> None:
    cache = EngineCache(block_size=4)
    cache.request(list(range(20)))  # blocks [0-3] [4-7] [8-11] [12-15] [16-19]
    changed = list(range(20))
    changed[9] = 999  # inside the third block
    assert cache.request(changed).cached_tokens == 8  # blocks 1 and 2 only; chaining misses everything after


def test_lru_evicts_the_tail_of_a_request_first() -> None:
    cache = EngineCache(block_size=16, capacity_blocks=4)
    a = list(range(65))  # 4 full blocks a1..a4 (+1 token)
    b = list(range(1000, 1033))  # 2 full blocks b1, b2 (+1 token)
    cache.request(a)  # cache: a1..a4 (4 blocks, full); a's tail was freed first, so a4 is least recent
    cache.request(b)  # inserting b1, b2 evicts the two least recently used: a4, then a3
    assert len(cache) == 4
    # a's first two blocks survived: 32 of its tokens are reused.
    assert cache.request(a).cached_tokens == 32


def test_tenants_are_salted_apart_but_share_capacity(consistent: Check) -> None:
    sim = Simulator("vllm", engine=EngineOptions(block_size=16, capacity_blocks=4))
    tokens = TokenPrompt(list(range(65)), model="qwen3-8b")
    consistent(sim.request(tokens, at=0, tenant="a"))
    assert consistent(sim.request(tokens, at=1, tenant="b")).read_tokens == 0  # same tokens, other salt
    # b's four blocks filled the pool of four: a's blocks are gone.
    assert consistent(sim.request(tokens, at=2, tenant="a")).read_tokens == 0
    r = consistent(sim.request(tokens, at=3, tenant="a"))
    assert (r.read_tokens, r.native()["prompt_tokens_details"]["cached_tokens"]) == (64, 64)


def test_positions_stand_in_for_tokens_without_token_ids(consistent: Check) -> None:
    sim = Simulator("sglang", engine=EngineOptions(block_size=16))
    first = SimPrompt(("sys", "sys/q1"), (100, 140), format="openai-chat", model="m")
    second = SimPrompt(("sys", "sys/q2"), (100, 150), format="openai-chat", model="m")
    consistent(sim.request(first, at=0))
    # Blocks ending inside "sys" (tokens 0..99): 6 full blocks (96 tokens); the 7th block ends at token 111,
    # inside the changed position: the match stops at 96.
    assert consistent(sim.request(second, at=1)).read_tokens == 96


def test_deterministic_across_instances() -> None:
    runs = []
    for _ in range(2):
        cache = EngineCache(block_size=8, capacity_blocks=10)
        runs.append([cache.request([(i * 7 + j) % 50 for j in range(40 + i)]).cached_tokens for i in range(30)])
    assert runs[0] == runs[1]
