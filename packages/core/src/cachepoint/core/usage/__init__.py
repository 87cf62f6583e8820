"""Token and cache usage in one shape for every provider, what it cost, and its telemetry.

- `CacheUsage`: one call's counts; ``input_tokens`` is the whole prompt, cache reads and writes included.
- `normalize_usage` (and `from_anthropic`, `from_bedrock`, `from_openai`, `from_openrouter`, `from_vllm`,
  `from_sglang`, `from_gemini`, `from_langchain`, `from_crewai`): any provider's or framework's usage in.
- `StreamUsage` / `normalize_stream`: the usage of a streamed response.
- `call_cost`, `break_even`, `ttl_break_even`: cost with and without caching, and when a write pays.
- `UsageLedger`: many calls aggregated by labels; dict, rich table and Prometheus exports.
- `OtelUsageRecorder` (``otel`` extra): span attributes and metrics.

>>> from cachepoint.core.usage import normalize_usage
>>> u = normalize_usage({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 1515,
...                                "cacheReadInputTokens": 1200, "cacheWriteInputTokens": 300}},
...                     model="anthropic.claude-sonnet-4-5-20250929-v1:0")
>>> u.provider, u.input_tokens, u.uncached_input_tokens
('bedrock', 1510, 10)
"""

from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.cost import (
    BATCH_MULTIPLIER,
    REGIONAL_MULTIPLIER,
    BreakEven,
    CallCost,
    break_even,
    call_cost,
    ttl_break_even,
)
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.latency import DEFAULT_LATENCY_BUCKETS, LatencySummary
from cachepoint.core.usage.ledger import LedgerStats, UsageLedger
from cachepoint.core.usage.normalize import (
    FORMATS,
    detect_format,
    from_anthropic,
    from_bedrock,
    from_crewai,
    from_gemini,
    from_langchain,
    from_openai,
    from_openrouter,
    from_sglang,
    from_vllm,
    normalize_usage,
)
from cachepoint.core.usage.otel import OtelUsageRecorder
from cachepoint.core.usage.semconv import otel_provider_name
from cachepoint.core.usage.stream import StreamUsage, normalize_stream

__all__ = [
    "BATCH_MULTIPLIER",
    "DEFAULT_LATENCY_BUCKETS",
    "FORMATS",
    "REGIONAL_MULTIPLIER",
    "BreakEven",
    "CacheUsage",
    "CallCost",
    "LatencySummary",
    "LedgerStats",
    "OtelUsageRecorder",
    "StreamUsage",
    "UsageFormatError",
    "UsageLedger",
    "break_even",
    "call_cost",
    "detect_format",
    "from_anthropic",
    "from_bedrock",
    "from_crewai",
    "from_gemini",
    "from_langchain",
    "from_openai",
    "from_openrouter",
    "from_sglang",
    "from_vllm",
    "normalize_stream",
    "normalize_usage",
    "otel_provider_name",
    "ttl_break_even",
]
