"""An inference engine's automatic prefix cache (vLLM APC, SGLang RadixAttention), for self-hosted traces.

The engine splits a prompt's token ids into blocks of ``block_size``; a block's key is a hash chained from its
parent block's key and its own tokens (the tenant's salt, vLLM's ``cache_salt``, goes into the first block),
so one key stands for the whole prefix up to the end of its block. A request reuses the longest run of
leading blocks found in the cache; as in vLLM, at least one prompt token is always computed, so a fully cached
prompt reuses ``(len - 1) // block_size`` blocks. After the request its blocks are the most recently used,
freed tail-first (vLLM frees a request's blocks in reverse so the prefix outlives the tail) into an LRU of
``capacity_blocks``. Deterministic: SHA-256 chaining, no clock, no randomness.

`EngineCache` works on token ids. Without token ids, `prompt_block_keys` builds approximate block keys from a
`SimPrompt`'s positions: block *j* is keyed by the prefix hash of the position holding its last token and its
offset there, so a block that ends inside a changed position misses even if its own tokens match (a
conservative approximation).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from cachepoint.core.lru import LRU
from cachepoint.core.simulate.prompt import SimPrompt

__all__ = ["EngineCache", "EngineHit", "TokenPrompt", "prompt_block_keys", "token_block_keys"]

_ROOT = hashlib.sha256(b"cachepoint/engine/v1").digest()


@dataclass(frozen=True)
class TokenPrompt:
    """A prompt as token ids, for the engine model (``format`` picks the native usage shape).

    >>> TokenPrompt((1, 2, 3)).total_tokens
    3
    """

    tokens: Sequence[int]
    format: str = "openai-chat"
    model: str | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt length in tokens."""
        return len(self.tokens)


def _root(salt: str | None) -> bytes:
    return _ROOT if not salt else hashlib.sha256(_ROOT + salt.encode()).digest()


def token_block_keys(tokens: Sequence[int], block_size: int, salt: str | None = None) -> list[bytes]:
    """Chained keys of the full blocks of ``tokens``.

    >>> a = token_block_keys(list(range(40)), 16)
    >>> b = token_block_keys(list(range(32)) + [0] * 8, 16)
    >>> len(a), a == b, token_block_keys(list(range(32)), 16, salt="t2")[0] == a[0]
    (2, True, False)
    """
    keys: list[bytes] = []
    parent = _root(salt)
    raw = array("q", tokens).tobytes()
    width = block_size * 8
    for j in range(len(tokens) // block_size):
        parent = hashlib.sha256(parent + raw[j * width : (j + 1) * width]).digest()
        keys.append(parent)
    return keys


def prompt_block_keys(prompt: SimPrompt, block_size: int, salt: str | None = None) -> list[bytes]:
    """Approximate block keys from positions (see the module notes).

    >>> p = SimPrompt(("a", "b"), (20, 40))
    >>> len(prompt_block_keys(p, 16))
    2
    """
    keys: list[bytes] = []
    root = _root(salt)
    cumulative = prompt.cumulative
    position = 0
    for j in range(prompt.total_tokens // block_size):
        last = (j + 1) * block_size - 1  # index of the block's last token
        while cumulative[position] <= last:
            position += 1
        start = cumulative[position - 1] if position else 0
        offset = last - start
        keys.append(hashlib.sha256(root + f"{prompt.hashes[position]}:{offset}".encode()).digest())
    return keys


@dataclass(frozen=True)
class EngineHit:
    """One lookup: ``cached_tokens`` of ``prompt_tokens`` came from the cache (``cached_blocks`` of ``blocks``).

    >>> cache = EngineCache(block_size=16)
    >>> _ = cache.request(list(range(40)))
    >>> cache.request(list(range(40)))
    EngineHit(prompt_tokens=40, cached_tokens=32, cached_blocks=2, blocks=2)
    """

    prompt_tokens: int
    cached_tokens: int
    cached_blocks: int
    blocks: int


class EngineCache:
    """A block prefix cache with LRU eviction (not thread-safe: the `Simulator` serializes calls).

    >>> cache = EngineCache(block_size=4, capacity_blocks=3)
    >>> cache.request(list(range(10))).cached_tokens
    0
    >>> cache.request(list(range(10))).cached_tokens  # two full blocks cached
    8
    >>> cache.request([99] * 12).cached_tokens, cache.request(list(range(10))).cached_tokens  # evicted
    (0, 0)
    """

    def __init__(self, *, block_size: int = 16, capacity_blocks: int | None = None) -> None:
        if block_size <= 0:
            raise ValueError(f"block_size: expected a positive number of tokens, got {block_size}")
        if capacity_blocks is not None and capacity_blocks <= 0:
            raise ValueError(f"capacity_blocks: expected a positive number or None, got {capacity_blocks}")
        self.block_size = block_size
        self.capacity_blocks = capacity_blocks
        self._blocks: LRU[bytes, bool] = LRU(capacity_blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def lookup(self, keys: Sequence[bytes], prompt_tokens: int) -> EngineHit:
        """How many leading blocks of ``keys`` are cached (at most ``(prompt_tokens - 1) // block_size``)."""
        usable = min(len(keys), max(prompt_tokens - 1, 0) // self.block_size)
        cached = self._blocks.peek
        hit = 0
        while hit < usable and cached(keys[hit]):
            hit += 1
        return EngineHit(prompt_tokens, hit * self.block_size, hit, len(keys))

    def insert(self, keys: Sequence[bytes]) -> None:
        """Mark ``keys`` most recently used, tail first, and evict the least recently used past capacity."""
        put = self._blocks.put
        for key in reversed(keys):
            put(key, True)

    def request(self, tokens: Sequence[int], *, salt: str | None = None) -> EngineHit:
        """Look ``tokens`` up and then cache its blocks (a request that runs to completion)."""
        keys = token_block_keys(tokens, self.block_size, salt)
        hit = self.lookup(keys, len(tokens))
        self.insert(keys)
        return hit

    def clear(self) -> None:
        """Forget every block."""
        self._blocks.clear()
