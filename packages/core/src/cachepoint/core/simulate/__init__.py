"""The provider prompt-cache model: predict what a provider reads from and writes to its cache, request by request.

One model, used twice: the analyzer replays recorded traces through it to predict hit rates and savings, and
the emulator answers real SDK clients with the usage it computes. Three cache models, picked by provider and
model from `cachepoint.core.providers`:

- **breakpoints** — Anthropic and Bedrock (20-position lookback, writes only at breakpoints, per-model minimum,
  5m/1h TTLs from the request's start and refreshed on a hit, 1h before 5m, entries readable only once the
  writing request responds) and OpenAI GPT-5.6+ explicit breakpoints (no lookback limit, latest 80).
  See `cachepoint.core.simulate.breakpoints`.
- **automatic** — OpenAI's prefix caching (1024-token floor, 128-token increments, ``prompt_cache_key``
  routing, retention). See `cachepoint.core.simulate.automatic`.
- **engine** — vLLM / SGLang block prefix caches (chained block hashes, LRU capacity in blocks) over token ids.
  See `cachepoint.core.simulate.engine`.

Caches are isolated per tenant (API key, workspace, AWS account) and model. Time is whatever the caller says
(``at=`` or a `Clock`); nothing here reads the wall clock, so a run is deterministic.

>>> from cachepoint.core.simulate import Simulator
>>> sim = Simulator("anthropic")
>>> payload = {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": [{"type": "text",
...     "text": "You answer from the manual. " * 300, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
...     "messages": [{"role": "user", "content": "How do I reset it?"}]}
>>> first = sim.request(payload, at=0)
>>> first.usage.cache_write_tokens == first.write_by_ttl["1h"], first.usage.cache_read_tokens
(True, 0)
>>> second = sim.request(payload, at=1800)
>>> second.usage.cache_read_tokens == first.usage.cache_write_tokens
True
"""

from cachepoint.core.simulate.automatic import OpenAIOptions
from cachepoint.core.simulate.clock import Clock, ManualClock
from cachepoint.core.simulate.engine import EngineCache, EngineHit, TokenPrompt
from cachepoint.core.simulate.prompt import SimBreakpoint, SimPrompt
from cachepoint.core.simulate.result import BreakpointOutcome, CacheEntry, Mode, SimResult
from cachepoint.core.simulate.simulator import EngineOptions, PendingRequest, PromptLike, Simulator, SimulatorHeld

__all__ = [
    "BreakpointOutcome",
    "CacheEntry",
    "Clock",
    "EngineCache",
    "EngineHit",
    "EngineOptions",
    "ManualClock",
    "Mode",
    "OpenAIOptions",
    "PendingRequest",
    "PromptLike",
    "SimBreakpoint",
    "SimPrompt",
    "SimResult",
    "Simulator",
    "SimulatorHeld",
    "TokenPrompt",
]
