"""`cachepoint_node`: one LangGraph node whose LLM calls get prompt-cache breakpoints and are counted for it.

The wrapper runs the node with a `CachepointCallbackHandler` in the node's config, the same config LangGraph
hands the node and puts in context for the calls the node makes without passing one. So every chat model call
inside (``model.invoke(messages)``, with or without ``config``, sync or async, streamed or not) carries the
strategy's breakpoints, the node's state never keeps a marker, and the call's usage lands in the ledger labelled
``node`` (LangGraph's node name), ``model``, ``provider``, ``tenant`` (run metadata ``tenant``) and your
``labels`` (say ``graph``). Inside a wrapped node its handler is the only cachepoint handler: one that
`cache_points` put on the whole graph steps aside there, so no call is counted twice.

What LangGraph sees is the node's own signature (``functools.wraps``), plus a ``config`` parameter when the node
has none, so it still injects ``config``, ``runtime``, ``store``, ``writer``..., infers the input schema from the
annotations, and files the node cache under the same name as the unwrapped node. An ``async def`` node (or an
object whose ``__call__`` is one) gets an ``async def`` wrapper (LangGraph runs it as async); an object node keeps
its class name as the node's name.

>>> from typing import TypedDict
>>> from langgraph.graph import START, StateGraph
>>> class State(TypedDict):
...     question: str
...     answer: str
>>> @cachepoint_node(labels={"graph": "helpdesk"})
... def answer(state: State) -> dict:
...     return {"answer": state["question"].upper()}  # a model.invoke(...) here gets breakpoints
>>> graph = StateGraph(State).add_node(answer).add_edge(START, "answer").compile()
>>> graph.invoke({"question": "reset?"})["answer"]
'RESET?'
>>> answer.ledger.stats().calls  # no LLM call was made
0
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from typing_extensions import ParamSpec

from cachepoint.core.prompt import Strategy
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler
from langgraph.types import CachePolicy

__all__ = ["CachepointNode", "cachepoint_node"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class CachepointNode(Protocol, Generic[P, R_co]):
    """A node function wrapped by `cachepoint_node`: callable as the node was, plus what the wrapper holds.

    >>> node = cachepoint_node(lambda state: {"done": True})
    >>> node({}), node.ledger is node.handler.ledger, node.cache_policy
    ({'done': True}, True, None)
    """

    handler: CachepointCallbackHandler
    """The handler that places breakpoints and records usage for this node's LLM calls."""
    ledger: UsageLedger
    """Where this node's usage goes (the handler's ledger)."""
    cache_policy: CachePolicy[Any] | None
    """The ``cache_policy`` given to `cachepoint_node`, for ``add_node(..., cache_policy=node.cache_policy)``."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


@overload
def cachepoint_node(
    fn: Callable[P, R],
    *,
    strategy: Strategy | None = None,
    ledger: UsageLedger | None = None,
    cache_policy: CachePolicy[Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> CachepointNode[P, R]: ...


@overload
def cachepoint_node(
    fn: None = None,
    *,
    strategy: Strategy | None = None,
    ledger: UsageLedger | None = None,
    cache_policy: CachePolicy[Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Callable[[Callable[P, R]], CachepointNode[P, R]]: ...


def cachepoint_node(
    fn: Callable[P, R] | None = None,
    *,
    strategy: Strategy | None = None,
    ledger: UsageLedger | None = None,
    cache_policy: CachePolicy[Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> CachepointNode[P, R] | Callable[[Callable[P, R]], CachepointNode[P, R]]:
    """Wrap a LangGraph node function (sync or ``async def``) so its LLM calls get breakpoints and are counted.

    ``cachepoint_node(fn, ...)`` or the decorator ``@cachepoint_node(...)`` / ``@cachepoint_node``.

    Args:
        fn: the node function (or an object with a ``__call__``), as you would pass it to ``add_node``.
        strategy: where breakpoints go (default `auto()`).
        ledger: the `UsageLedger` for the node's calls (default: a new one, as ``node.ledger``).
        cache_policy: the node's LangGraph ``CachePolicy``, kept as ``node.cache_policy`` so the node and its
            policy travel together: ``builder.add_node("n", node, cache_policy=node.cache_policy)`` (LangGraph
            reads a policy only from ``add_node``).
        labels: labels added to each ledger entry, e.g. ``{"graph": "support"}``.

    Node-cache hits are counted by the node cache, which is where they happen (the node does not run): give
    `CachepointNodeCache` the same ledger, or use `cache_points`, which does.

    >>> from langgraph.types import CachePolicy
    >>> @cachepoint_node(cache_policy=CachePolicy(ttl=600), labels={"graph": "support"})
    ... async def summarize(state: dict) -> dict:
    ...     return {"summary": "..."}
    >>> inspect.iscoroutinefunction(summarize), summarize.__name__, summarize.cache_policy.ttl
    (True, 'summarize', 600)
    """
    if fn is None:

        def decorate(func: Callable[P, R]) -> CachepointNode[P, R]:
            return cachepoint_node(func, strategy=strategy, ledger=ledger, cache_policy=cache_policy, labels=labels)

        return decorate
    if not callable(fn):
        raise TypeError(f"cachepoint_node: expected a node function, got {type(fn).__name__}")
    call = type(fn).__call__  # an object node is judged by its __call__, as LangGraph does
    if any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) for f in (fn, call)):
        raise TypeError(f"cachepoint_node: {_name(fn)} is a generator function; wrap a function that returns")
    if cache_policy is not None and not isinstance(cache_policy, CachePolicy):
        raise TypeError(f"cache_policy: expected a langgraph.types.CachePolicy, got {type(cache_policy).__name__}")
    handler = CachepointCallbackHandler(strategy, ledger=ledger, labels=labels)
    signature = inspect.signature(fn)
    takes_config = "config" in signature.parameters

    def prepare(kwargs: dict[str, Any]) -> RunnableConfig | None:
        config = kwargs.get("config") if takes_config else kwargs.pop("config", None)
        if config is None:
            config = var_child_runnable_config.get()
        if config is None:
            return None  # called outside a graph run: nothing to attach the handler to
        config = _with_handler(config, handler)
        if takes_config:
            kwargs["config"] = config
        return config

    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call):
        afn = cast(Callable[..., Awaitable[Any]], fn)

        @functools.wraps(fn)
        async def anode(*args: Any, **kwargs: Any) -> Any:
            config = prepare(kwargs)
            token = var_child_runnable_config.set(config) if config is not None else None
            try:
                return await afn(*args, **kwargs)
            finally:
                if token is not None:
                    var_child_runnable_config.reset(token)

        wrapper: Any = anode
    else:

        @functools.wraps(fn)
        def node(*args: Any, **kwargs: Any) -> Any:
            config = prepare(kwargs)
            token = var_child_runnable_config.set(config) if config is not None else None
            try:
                return fn(*args, **kwargs)
            finally:
                if token is not None:
                    var_child_runnable_config.reset(token)

        wrapper = node
    if not hasattr(fn, "__name__"):
        # An object node has no name of its own: LangGraph names it after its class, so the wrapper does too.
        wrapper.__name__ = wrapper.__qualname__ = type(fn).__name__
    if not takes_config:
        # LangGraph injects `config` only into a parameter of that name: offer one (the node never sees it).
        wrapper.__signature__ = _with_config_parameter(signature)
    wrapper.handler = handler
    wrapper.ledger = handler.ledger
    wrapper.cache_policy = cache_policy
    return cast(CachepointNode[P, R], wrapper)


def _with_handler(config: RunnableConfig, handler: CachepointCallbackHandler) -> RunnableConfig:
    """``config`` whose callbacks hold ``handler`` as their only cachepoint handler (inherited by child runs)."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        for other in [*manager.handlers, *manager.inheritable_handlers]:
            if isinstance(other, CachepointCallbackHandler) and other is not handler:
                manager.remove_handler(other)
        manager.add_handler(handler, inherit=True)
        return {**config, "callbacks": manager}
    kept: list[BaseCallbackHandler] = [
        h for h in (callbacks or []) if not isinstance(h, CachepointCallbackHandler) or h is handler
    ]
    if handler not in kept:
        kept.append(handler)
    return {**config, "callbacks": kept}


def _with_config_parameter(signature: inspect.Signature) -> inspect.Signature:
    params = list(signature.parameters.values())
    config = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=RunnableConfig)
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return signature.replace(parameters=[*params[:at], config, *params[at:]])


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
