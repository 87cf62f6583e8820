"""Self-hosted engines: configure vLLM / SGLang / LMCache prefix caching and observe it in the usage ledger.

For self-hosted models the KV cache lives in the inference engine. cachepoint does not reimplement it; it
helps configure it and makes its hits visible next to the providers' figures:

- `VLLMConfig` / `SGLangConfig`: validated launch settings -> ``vllm serve`` / ``sglang.launch_server``
  command lines and ``vllm.LLM(...)`` kwargs, with LMCache wiring (``with_lmcache_v1`` / ``with_lmcache_mp``);
- `TenantCacheSalt`: a secret per-tenant ``cache_salt`` so tenants never share vLLM prefix-cache blocks;
- `kv_cache_bytes` / `tokens_that_fit`: size the KV cache;
- `LMCacheClient` / `AsyncLMCacheClient`: the LMCache controller API (lookup, clear, pin, health);
- `scrape_engine_metrics` / `scrape_engine_metrics_async`: ``/metrics`` -> `EngineMetricsSnapshot`;
  ``later.since(earlier).to_cache_usage()`` -> `cachepoint.core.usage.CacheUsage` records.

The configuration helpers need nothing beyond core; the client and the scraper need the ``engines`` extra
(``pip install 'cachepoint-core[engines]'``: httpx and prometheus-client) and are imported on first use.

>>> from cachepoint.core.engines import VLLMConfig, kv_cache_bytes
>>> VLLMConfig("Qwen/Qwen3-8B").with_lmcache_v1().command()[:3]
['vllm', 'serve', 'Qwen/Qwen3-8B']
>>> kv_cache_bytes(layers=36, kv_heads=8, head_dim=128, seq_len=32768, dtype="bf16") / 2**30  # Qwen3-8B, 32k
4.5
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cachepoint.core.engines.salt import TenantCacheSalt
from cachepoint.core.engines.sglang import SGLangConfig
from cachepoint.core.engines.sizing import kv_bytes_per_token, kv_cache_bytes, tokens_that_fit
from cachepoint.core.engines.vllm import VLLMConfig

if TYPE_CHECKING:
    from cachepoint.core.engines.errors import (
        EngineConnectError,
        EngineError,
        EngineResponseError,
        EngineStatusError,
        EngineTimeoutError,
    )
    from cachepoint.core.engines.lmcache import (
        AsyncLMCacheClient,
        HealthResult,
        InstanceHit,
        LMCacheClient,
        LookupResult,
        OperationResult,
    )
    from cachepoint.core.engines.metrics import (
        EngineCacheDelta,
        EngineMetricsSnapshot,
        ModelCacheDelta,
        ModelCacheFigures,
        parse_engine_metrics,
        scrape_engine_metrics,
        scrape_engine_metrics_async,
    )

__all__ = [
    "AsyncLMCacheClient",
    "EngineCacheDelta",
    "EngineConnectError",
    "EngineError",
    "EngineMetricsSnapshot",
    "EngineResponseError",
    "EngineStatusError",
    "EngineTimeoutError",
    "HealthResult",
    "InstanceHit",
    "LMCacheClient",
    "LookupResult",
    "ModelCacheDelta",
    "ModelCacheFigures",
    "OperationResult",
    "SGLangConfig",
    "TenantCacheSalt",
    "VLLMConfig",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "parse_engine_metrics",
    "scrape_engine_metrics",
    "scrape_engine_metrics_async",
    "tokens_that_fit",
]

# Names served by a submodule that imports an optional dependency (httpx, prometheus-client).
_LAZY = {
    "EngineConnectError": "errors",
    "EngineError": "errors",
    "EngineResponseError": "errors",
    "EngineStatusError": "errors",
    "EngineTimeoutError": "errors",
    "AsyncLMCacheClient": "lmcache",
    "HealthResult": "lmcache",
    "InstanceHit": "lmcache",
    "LMCacheClient": "lmcache",
    "LookupResult": "lmcache",
    "OperationResult": "lmcache",
    "EngineCacheDelta": "metrics",
    "EngineMetricsSnapshot": "metrics",
    "ModelCacheDelta": "metrics",
    "ModelCacheFigures": "metrics",
    "parse_engine_metrics": "metrics",
    "scrape_engine_metrics": "metrics",
    "scrape_engine_metrics_async": "metrics",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ImportError as exc:
        raise ImportError(
            f"cachepoint.core.engines.{name} needs the 'engines' extra: pip install 'cachepoint-core[engines]' ({exc})"
        ) from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
