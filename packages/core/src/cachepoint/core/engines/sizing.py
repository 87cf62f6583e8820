"""How much memory a KV cache needs, to size prefix caching on a self-hosted engine.

Each token of context keeps one key and one value vector per layer and per KV head, so

    bytes = 2 (K and V) x layers x kv_heads x head_dim x seq_len x batch x bytes(dtype)

This holds for multi-head and grouped-query attention (Llama, Qwen, Mistral: ``kv_heads`` is
``num_key_value_heads`` from the model's ``config.json``). Models with multi-head latent attention
(DeepSeek V2/V3) store one compressed vector per token instead; size those from their own docs.
Engines add a few percent for block alignment and metadata, so treat the result as a floor.

>>> from cachepoint.core.engines.sizing import kv_cache_bytes, tokens_that_fit
>>> kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, seq_len=4096, batch=1, dtype="fp16")
1342177280
>>> tokens_that_fit(40, layers=80, kv_heads=8, head_dim=128, dtype="fp16")
131072
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

__all__ = ["DTYPE_BYTES", "GIB", "dtype_bytes", "kv_bytes_per_token", "kv_cache_bytes", "tokens_that_fit"]

#: Bytes in one GiB.
GIB = 1024**3

#: Bytes per element by dtype name (case-insensitive). Names follow PyTorch and vLLM's
#: ``--kv-cache-dtype``. 4-bit formats count half a byte and leave out their scale factors.
DTYPE_BYTES: Mapping[str, Fraction] = MappingProxyType(
    {
        "fp32": Fraction(4),
        "float32": Fraction(4),
        "float": Fraction(4),
        "fp16": Fraction(2),
        "float16": Fraction(2),
        "half": Fraction(2),
        "bf16": Fraction(2),
        "bfloat16": Fraction(2),
        "fp8": Fraction(1),
        "fp8_e4m3": Fraction(1),
        "fp8_e5m2": Fraction(1),
        "float8_e4m3fn": Fraction(1),
        "float8_e5m2": Fraction(1),
        "int8": Fraction(1),
        "uint8": Fraction(1),
        "fp4": Fraction(1, 2),
        "int4": Fraction(1, 2),
    }
)


def dtype_bytes(dtype: str) -> Fraction:
    """Bytes per element of ``dtype``; ``ValueError`` listing the known names for anything else.

    >>> dtype_bytes("BF16"), dtype_bytes("fp8"), dtype_bytes("int4")
    (Fraction(2, 1), Fraction(1, 1), Fraction(1, 2))
    """
    if not isinstance(dtype, str):
        raise ValueError(f"dtype: expected a dtype name such as 'fp16', got {dtype!r}")
    key = dtype.strip().lower()
    if key == "auto":
        raise ValueError("dtype: 'auto' means the model's own dtype; pass it explicitly (e.g. 'bf16')")
    try:
        return DTYPE_BYTES[key]
    except KeyError:
        known = ", ".join(sorted(DTYPE_BYTES))
        raise ValueError(f"dtype: unknown dtype {dtype!r}; expected one of: {known}") from None


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def kv_bytes_per_token(*, layers: int, kv_heads: int, head_dim: int, dtype: str = "fp16") -> Fraction:
    """KV cache bytes for one token of one sequence: ``2 x layers x kv_heads x head_dim x bytes(dtype)``.

    >>> kv_bytes_per_token(layers=32, kv_heads=8, head_dim=128, dtype="bf16")  # Llama-3-8B: 128 KiB
    Fraction(131072, 1)
    """
    per_element = dtype_bytes(dtype)
    return (
        2
        * _positive_int("layers", layers)
        * _positive_int("kv_heads", kv_heads)
        * _positive_int("head_dim", head_dim)
        * per_element
    )


def kv_cache_bytes(  # noqa: PLR0917 - the formula's own order, as sizing guides write it
    layers: int, kv_heads: int, head_dim: int, seq_len: int, batch: int = 1, dtype: str = "fp16"
) -> int:
    """Bytes of KV cache for ``batch`` sequences of ``seq_len`` tokens (rounded up to a whole byte).

    >>> kv_cache_bytes(80, 8, 128, seq_len=4096, batch=1, dtype="fp16") / 2**30  # Llama-3-70B at 4k
    1.25
    >>> kv_cache_bytes(80, 8, 128, seq_len=4096, batch=1, dtype="fp8") / 2**30
    0.625
    """
    per_token = kv_bytes_per_token(layers=layers, kv_heads=kv_heads, head_dim=head_dim, dtype=dtype)
    total = per_token * _positive_int("seq_len", seq_len) * _positive_int("batch", batch)
    return math.ceil(total)


def tokens_that_fit(
    memory_gib: float,
    *,
    layers: int,
    kv_heads: int,
    head_dim: int,
    dtype: str = "fp16",
    block_size: int | None = None,
) -> int:
    """How many tokens of KV (prefix) cache fit in ``memory_gib`` GiB, rounded down.

    With ``block_size`` the count is rounded down to whole blocks, as vLLM and SGLang (``--page-size``)
    allocate the cache in blocks of that many tokens.

    >>> tokens_that_fit(10, layers=32, kv_heads=8, head_dim=128, dtype="bf16")  # Llama-3-8B
    81920
    >>> tokens_that_fit(0.001, layers=32, kv_heads=8, head_dim=128, dtype="bf16", block_size=16)
    0
    """
    if isinstance(memory_gib, bool) or not isinstance(memory_gib, (int, float)) or not math.isfinite(memory_gib):
        raise ValueError(f"memory_gib: expected a positive number of GiB, got {memory_gib!r}")
    if memory_gib <= 0:
        raise ValueError(f"memory_gib: expected a positive number of GiB, got {memory_gib!r}")
    per_token = kv_bytes_per_token(layers=layers, kv_heads=kv_heads, head_dim=head_dim, dtype=dtype)
    tokens = math.floor(Fraction(memory_gib) * GIB / per_token)
    if block_size is not None:
        block = _positive_int("block_size", block_size)
        tokens -= tokens % block
    return tokens
