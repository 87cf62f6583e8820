"""Provider prompt caching: put cache breakpoints where they pay, in each provider's format, and say why.

- The request model: `Request` (tools, system blocks, messages of `Block`s) parsed from and rendered back to
  Anthropic Messages, Bedrock Converse, OpenAI Chat Completions and Responses payloads, losslessly.
- `Request.positions` -> `PrefixView`: the cached prefix as ordered positions with tokens and hashes;
  `ViewBuilder` gives the same views for a stream of payloads, working out each repeated piece once.
- Strategies (`auto`, `cache_until`, `cache_at`, `rolling`, `stable_prefix`, or your own `Strategy`) return
  `Breakpoint`s; `apply_cache_points` enforces each provider's rules and returns the payload and a `CacheReport`;
  `plan_cache_points` makes the same decisions on a `PrefixView` you already have, without rendering a payload.
- `PromptLayout` builds stable-first prompts; `lint` finds what breaks caching.

>>> from cachepoint.core.prompt import apply_cache_points
>>> payload, report = apply_cache_points(
...     {"model": "claude-sonnet-4-5", "max_tokens": 512, "system": "You answer from this manual. " * 300,
...      "messages": [{"role": "user", "content": "How do I reset the device?"}]})
>>> [d.path for d in report.placed]
['messages[0].content[0]', 'system[0]']
"""

from cachepoint.core.prompt.breakpoints import At, Breakpoint, PlacementContext, Skipped, Strategy, Target
from cachepoint.core.prompt.builder import ViewBuilder, ViewBuilderStats
from cachepoint.core.prompt.compile import apply_cache_points
from cachepoint.core.prompt.errors import RenderError, RequestFormatError
from cachepoint.core.prompt.formats import Dialect, detect_format, get_format, register_format
from cachepoint.core.prompt.layout import PromptLayout
from cachepoint.core.prompt.lint import Finding, lint
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Message, Request, Tool, text
from cachepoint.core.prompt.plan import CachePlan, derive_cache_key, plan_cache_points
from cachepoint.core.prompt.positions import ExistingBreakpoint, Position, PrefixView
from cachepoint.core.prompt.report import CacheReport, Decision
from cachepoint.core.prompt.strategies import TTLHistory, auto, cache_at, cache_until, rolling, stable_prefix

__all__ = [
    "At",
    "Block",
    "Breakpoint",
    "CacheMarker",
    "CachePlan",
    "CacheReport",
    "Decision",
    "Dialect",
    "ExistingBreakpoint",
    "Finding",
    "Locator",
    "Message",
    "PlacementContext",
    "Position",
    "PrefixView",
    "PromptLayout",
    "RenderError",
    "Request",
    "RequestFormatError",
    "Skipped",
    "Strategy",
    "TTLHistory",
    "Target",
    "Tool",
    "ViewBuilder",
    "ViewBuilderStats",
    "apply_cache_points",
    "auto",
    "cache_at",
    "cache_until",
    "derive_cache_key",
    "detect_format",
    "get_format",
    "lint",
    "plan_cache_points",
    "register_format",
    "rolling",
    "stable_prefix",
    "text",
]
