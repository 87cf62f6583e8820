"""Prefix-cache primitives for anyone who keeps KV state (or any per-prefix state) around an engine.

`PrefixCache` stores opaque payloads (KV tensors, engine handles, file paths...) under token sequences and
answers, for a new sequence, the longest cached prefix: how many tokens matched, which tokens remain, and the
payload. Budgets by entries and bytes with LRU or LFU eviction, an idle TTL, and a minimum prefix length.
`analyze_batch` tells, without touching any cache, how many tokens of a batch a shared-prefix cache would
serve (the dedup ratio). ``cachepoint analyze`` uses the same structure as its prefix index, over prompt block
hashes instead of token ids.

>>> from cachepoint.core.prefix import PrefixCache, analyze_batch
>>> cache = PrefixCache(max_bytes=1 << 30, policy="lru", ttl=600, min_prefix_length=4)
>>> cache.put([101, 7592, 2088, 999, 42], b"kv-state-for-5-tokens")
True
>>> match = cache.lookup([101, 7592, 2088, 999, 17, 18])
>>> match.length, match.remaining, match.payload
(4, (17, 18), b'kv-state-for-5-tokens')
>>> analyze_batch([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 7, 8]]).dedup_ratio
0.4666666666666667
"""

from cachepoint.core.prefix.cache import (
    BatchAnalysis,
    Policy,
    PrefixCache,
    PrefixCacheStats,
    PrefixMatch,
    analyze_batch,
)

__all__ = ["BatchAnalysis", "Policy", "PrefixCache", "PrefixCacheStats", "PrefixMatch", "analyze_batch"]
