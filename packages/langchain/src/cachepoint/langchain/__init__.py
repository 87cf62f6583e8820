"""cachepoint for LangChain: prompt-cache breakpoints, cache usage and traces for LangChain chat models.

- `CachepointCallbackHandler`: add it to ``callbacks=`` of a model or any run; requests carry breakpoints,
  usage lands in a `UsageLedger` (and OpenTelemetry, and a trace for ``cachepoint analyze``).
- `CachepointMiddleware`: the same for ``langchain.agents.create_agent``, tools included (needs the
  ``agents`` extra).
- `with_cache_points`: a chat model for LCEL chains, with an optional response cache that also replays streams.
- `CachepointLLMCache`: LangChain's LLM cache (``set_llm_cache``) over any cachepoint store, async-native,
  keyed without cache markers, hits marked and counted.

>>> from cachepoint.langchain import CachepointCallbackHandler
>>> handler = CachepointCallbackHandler()
>>> handler.ledger.stats().calls
0
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from cachepoint.langchain.callback import CachepointCallbackHandler
from cachepoint.langchain.chat_model import CachePointsChatModel, with_cache_points
from cachepoint.langchain.llm_cache import CachepointLLMCache

if TYPE_CHECKING:
    from cachepoint.langchain.middleware import CachepointMiddleware

try:
    __version__ = version("cachepoint-langchain")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "CachePointsChatModel",
    "CachepointCallbackHandler",
    "CachepointLLMCache",
    "CachepointMiddleware",
    "__version__",
    "with_cache_points",
]


def __getattr__(name: str) -> Any:
    # The middleware needs `langchain` (the `agents` extra); import it only when asked for.
    if name == "CachepointMiddleware":
        from cachepoint.langchain.middleware import CachepointMiddleware

        return CachepointMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
