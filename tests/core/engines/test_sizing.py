"""kv_cache_bytes and tokens_that_fit against worked examples computed by hand."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachepoint.core.engines.sizing import DTYPE_BYTES, kv_bytes_per_token, kv_cache_bytes, tokens_that_fit

GIB = 2**30


def test_llama3_70b_at_4k_context_worked_example() -> None:
    # Llama-3-70B: 80 layers, 8 KV heads (GQA), head_dim 128, fp16 = 2 bytes.
    # Per token: K and V (2) x 80 x 8 x 128 x 2 bytes = 327,680 bytes = 320 KiB.
    per_token = 2 * 80 * 8 * 128 * 2
    assert per_token == 320 * 1024
    # 4,096 tokens x 320 KiB = 1,280 MiB = 1.25 GiB = 1,342,177,280 bytes.
    expected = per_token * 4096
    assert expected == 1_342_177_280 == int(1.25 * GIB)
    assert kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, seq_len=4096, batch=1, dtype="fp16") == expected
    assert kv_cache_bytes(80, 8, 128, 4096, 1, "fp16") == expected  # positional, as the formula reads


def test_dtype_and_batch_scale_linearly() -> None:
    base = kv_cache_bytes(80, 8, 128, 4096, 1, "fp16")
    assert kv_cache_bytes(80, 8, 128, 4096, 1, "fp8") == base // 2
    assert kv_cache_bytes(80, 8, 128, 4096, 1, "float32") == base * 2
    assert kv_cache_bytes(80, 8, 128, 4096, 8, "bf16") == base * 8  # bf16 is as wide as fp16
    assert kv_cache_bytes(80, 8, 128, 4096, 1, "int4") == base // 4


def test_sub_byte_dtypes_round_up_to_a_whole_byte() -> None:
    # 2 x 1 x 1 x 1 x 1 token x 0.5 byte = 1 byte; with 3 heads: 3 bytes; 1 head, head_dim 1 -> exactly 1.
    assert kv_cache_bytes(1, 1, 1, 1, 1, "int4") == 1
    assert kv_cache_bytes(1, 1, 3, 1, 1, "fp4") == 3


def test_tokens_that_fit_worked_examples() -> None:
    # 40 GiB / 327,680 bytes per token (Llama-3-70B fp16) = 42,949,672,960 / 327,680 = 131,072 tokens.
    assert tokens_that_fit(40, layers=80, kv_heads=8, head_dim=128, dtype="fp16") == 131_072
    # Llama-3-8B (32 layers, 8 KV heads, head_dim 128) in bf16: 131,072 bytes per token; 10 GiB -> 81,920 tokens.
    assert tokens_that_fit(10, layers=32, kv_heads=8, head_dim=128, dtype="bf16") == 81_920


def test_tokens_that_fit_rounds_down_to_whole_blocks() -> None:
    # 4 bytes per token (1 layer, 1 head, dim 1, fp16); 402 bytes hold 100 tokens; blocks of 16 hold 96.
    memory = 402 / GIB
    assert tokens_that_fit(memory, layers=1, kv_heads=1, head_dim=1, dtype="fp16") == 100
    assert tokens_that_fit(memory, layers=1, kv_heads=1, head_dim=1, dtype="fp16", block_size=16) == 96


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": 0}, "layers: expected a positive integer, got 0"),
        ({"kv_heads": -8}, "kv_heads: expected a positive integer, got -8"),
        ({"head_dim": 128.0}, "head_dim: expected a positive integer, got 128.0"),
        ({"seq_len": True}, "seq_len: expected a positive integer, got True"),
        ({"batch": 0}, "batch: expected a positive integer, got 0"),
        ({"dtype": "fp12"}, "dtype: unknown dtype 'fp12'; expected one of: "),
        ({"dtype": "auto"}, "dtype: 'auto' means the model's own dtype"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, Any], message: str) -> None:
    args = {"layers": 80, "kv_heads": 8, "head_dim": 128, "seq_len": 4096, "batch": 1, "dtype": "fp16"} | kwargs
    with pytest.raises(ValueError, match=message):
        kv_cache_bytes(**args)


def test_unknown_dtype_lists_every_known_name() -> None:
    with pytest.raises(ValueError, match="unknown dtype") as info:
        kv_cache_bytes(1, 1, 1, 1, 1, "e4m3")
    for name in DTYPE_BYTES:
        assert name in str(info.value)


@pytest.mark.parametrize("memory", [0, -1, float("inf"), float("nan"), "40"])
def test_bad_memory(memory: Any) -> None:
    with pytest.raises(ValueError, match="memory_gib: expected a positive number of GiB"):
        tokens_that_fit(memory, layers=1, kv_heads=1, head_dim=1)


@given(
    layers=st.integers(1, 128),
    kv_heads=st.integers(1, 64),
    head_dim=st.sampled_from([64, 80, 96, 128, 256]),
    a=st.integers(1, 200_000),
    b=st.integers(1, 200_000),
    dtype=st.sampled_from(["fp32", "fp16", "bf16", "fp8", "int8"]),
)
def test_bytes_add_up_over_tokens_and_round_trip(
    *, layers: int, kv_heads: int, head_dim: int, a: int, b: int, dtype: str
) -> None:
    shape = {"layers": layers, "kv_heads": kv_heads, "head_dim": head_dim, "dtype": dtype}
    # Whole-byte dtypes: the KV of a+b tokens is the KV of a tokens plus the KV of b tokens.
    assert kv_cache_bytes(seq_len=a + b, **shape) == kv_cache_bytes(seq_len=a, **shape) + kv_cache_bytes(
        seq_len=b, **shape
    )
    # Exactly the memory of n tokens holds n tokens, and not one more.
    size = kv_cache_bytes(seq_len=a, **shape)
    assert tokens_that_fit(size / GIB, **shape) == a
    assert kv_bytes_per_token(**shape) * a == size
