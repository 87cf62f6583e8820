"""`LLM` and `enable_cache_points`: switch caching on for one CrewAI LLM.

How (the reasons are in docs/guides/crewai.md): the LLM object CrewAI built is kept, and becomes an instance of
a subclass of its own provider class (``AnthropicCompletion``, ``BedrockCompletion``, ``OpenAICompletion``) that
adds only two things:

- ``call`` / ``acall`` label the call with the agent, task and crew CrewAI passes (``from_agent``,
  ``from_task``), then run the provider's own method;
- the provider's SDK-client accessors (``_get_sync_client``, ``_get_async_client``, and Bedrock's
  ``_ensure_async_client``) hand out the SDK client wrapped, so the request CrewAI built is seen, given
  breakpoints, answered from the response cache or sent, and its usage recorded.

Nothing is added to the request except cache markers (and OpenAI's ``prompt_cache_key``); ``cache_points``
never reaches ``additional_params``, which the native OpenAI provider would send to the API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import PrivateAttr

import crewai
from cachepoint.core.prompt import Strategy
from cachepoint.crewai.config import CachePoints, resolve_cache_points
from cachepoint.crewai.labels import call_labels
from cachepoint.crewai.state import Caching
from crewai.llms.base_llm import BaseLLM

__all__ = ["LLM", "enable_cache_points"]

L = TypeVar("L", bound=BaseLLM)
Wrap = Callable[..., Any]

_subclasses: dict[type, type] = {}
_lock = threading.Lock()


def _provider_of(llm: BaseLLM) -> tuple[str, Wrap]:
    """The caching rules and the SDK-client wrapper for ``llm``'s provider class."""
    names = {cls.__name__ for cls in type(llm).__mro__}
    if "AnthropicCompletion" in names:
        from cachepoint.crewai.anthropic import wrap_anthropic

        return "anthropic", wrap_anthropic
    if "BedrockCompletion" in names:
        from cachepoint.crewai.bedrock import wrap_bedrock

        return "bedrock", wrap_bedrock
    if "OpenAICompletion" in names:
        from cachepoint.crewai.openai import wrap_openai

        return "openai", wrap_openai
    raise TypeError(
        f"cache_points: {type(llm).__name__} (model {getattr(llm, 'model', None)!r}) is not supported; caching "
        "works on CrewAI's native Anthropic, Bedrock and OpenAI providers (LLM(model='anthropic/...'), "
        "'bedrock/...', 'openai/...')"
    )


class _Wrapped:
    """An SDK client and the wrapper handed out for it (rebuilt when the provider builds a new client)."""

    def __init__(self) -> None:
        self.inner: Any = None
        self.outer: Any = None

    def get(self, client: Any, wrap: Callable[[Any], Any]) -> Any:
        if client is None:
            return None
        if client is not self.inner:
            self.inner, self.outer = client, wrap(client)
        return self.outer


class _Session:
    """What one cache-enabled LLM carries: its `Caching` and the wrappers of its sync and async SDK clients."""

    def __init__(self, caching: Caching, wrap: Wrap) -> None:
        self.caching = caching
        self.wrap = wrap
        self.sync = _Wrapped()
        self.async_ = _Wrapped()

    def sync_client(self, client: Any) -> Any:
        return self.sync.get(client, lambda c: self.wrap(c, self.caching, is_async=False))

    def async_client(self, client: Any) -> Any:
        return self.async_.get(client, lambda c: self.wrap(c, self.caching, is_async=True))


def _subclass(cls: type) -> type:
    """``cls`` with labelled calls and wrapped SDK clients (one subclass per provider class)."""
    with _lock:
        found = _subclasses.get(cls)
        if found is not None:
            return found

        class CachePointsLLM(cls):  # type: ignore[misc]
            _cachepoint_session: Any = PrivateAttr(default=None)

            def call(self, *args: Any, **kwargs: Any) -> Any:
                with call_labels(args, kwargs):
                    return super().call(*args, **kwargs)

            async def acall(self, *args: Any, **kwargs: Any) -> Any:
                with call_labels(args, kwargs):
                    return await super().acall(*args, **kwargs)

            def _get_sync_client(self) -> Any:
                return self._cachepoint_session.sync_client(super()._get_sync_client())

            def _get_async_client(self) -> Any:
                return self._cachepoint_session.async_client(super()._get_async_client())

            async def _ensure_async_client(self) -> Any:  # Bedrock: builds its aiobotocore client on first use
                return self._cachepoint_session.async_client(await super()._ensure_async_client())

        subclass: type = CachePointsLLM
        subclass.__name__ = subclass.__qualname__ = f"CachePoints{cls.__name__}"
        subclass.__module__ = __name__
        _subclasses[cls] = subclass
        return subclass


def enable_cache_points(llm: L, cache_points: bool | Strategy | CachePoints = True) -> L:
    """Switch caching on for ``llm``, a CrewAI LLM built elsewhere (``crewai.LLM(...)`` or a native provider
    class), and return it: the same object, which keeps its class's behaviour and passes its ``isinstance``
    checks. ``cache_points``: ``True``, a `Strategy`, or a `CachePoints`. Calling it again replaces the
    settings. Raises ``TypeError`` for an LLM that is not one of CrewAI's native Anthropic, Bedrock or OpenAI
    providers (e.g. the LiteLLM fallback).

    >>> import crewai
    >>> from cachepoint.core.usage import UsageLedger
    >>> llm = enable_cache_points(crewai.LLM(model="anthropic/claude-sonnet-4-5", api_key="k"),
    ...                           CachePoints(ledger=UsageLedger()))
    >>> type(llm).__name__, llm.model
    ('CachePointsAnthropicCompletion', 'claude-sonnet-4-5')
    """
    if not isinstance(llm, BaseLLM):
        raise TypeError(f"llm: expected a CrewAI LLM (crewai.LLM(...)), got {type(llm).__name__}")
    config = resolve_cache_points(cache_points)
    provider, wrap = _provider_of(llm)
    base = type(llm)
    if base in _subclasses.values():
        base = base.__mro__[1]
    object.__setattr__(llm, "__class__", _subclass(base))
    llm._cachepoint_session = _Session(Caching(config, provider), wrap)
    return llm


def LLM(  # noqa: N802 - a drop-in for crewai.LLM
    model: str, *, cache_points: bool | Strategy | CachePoints | None = None, **kwargs: Any
) -> BaseLLM:
    """``crewai.LLM(model, **kwargs)``, with caching on when ``cache_points`` is given.

    Takes exactly `crewai.LLM`'s arguments plus ``cache_points`` (``True``, a `Strategy`, or a `CachePoints`)
    and returns what `crewai.LLM` returns: CrewAI's native provider object for the model, so CrewAI's own
    features and ``isinstance`` checks keep working. ``cache_points`` itself is never passed on to CrewAI (its
    OpenAI provider would send unknown arguments to the API). Without it, this is `crewai.LLM` unchanged.

    >>> from cachepoint.core.usage import UsageLedger
    >>> ledger = UsageLedger()
    >>> llm = LLM(model="anthropic/claude-sonnet-4-5", api_key="k", cache_points=CachePoints(ledger=ledger))
    >>> from crewai.llms.providers.anthropic.completion import AnthropicCompletion
    >>> isinstance(llm, AnthropicCompletion), "cache_points" in llm.additional_params
    (True, False)
    """
    llm: BaseLLM = crewai.LLM(model, **kwargs)
    if cache_points is None or cache_points is False:
        return llm
    return enable_cache_points(llm, cache_points)
