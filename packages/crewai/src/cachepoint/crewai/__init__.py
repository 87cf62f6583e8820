"""cachepoint for CrewAI: prompt-cache breakpoints, cache usage per agent and an optional response cache,
switched on by one LLM parameter.

>>> from cachepoint.core.usage import UsageLedger
>>> from cachepoint.crewai import LLM, CachePoints
>>> ledger = UsageLedger()
>>> llm = LLM(model="anthropic/claude-sonnet-4-5", api_key="k", cache_points=CachePoints(ledger=ledger))
>>> type(llm).__name__
'CachePointsAnthropicCompletion'

``LLM`` takes `crewai.LLM`'s arguments plus ``cache_points`` and returns CrewAI's own native provider object;
`enable_cache_points` does the same for an LLM built elsewhere. See docs/guides/crewai.md.
"""

from importlib.metadata import PackageNotFoundError, version

from cachepoint.crewai.config import CachePoints
from cachepoint.crewai.llm import LLM, enable_cache_points

try:
    __version__ = version("cachepoint-crewai")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["LLM", "CachePoints", "__version__", "enable_cache_points"]
