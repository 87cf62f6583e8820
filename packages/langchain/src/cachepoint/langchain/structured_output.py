"""Structured output through a wrapper: the wrapped chat model builds its own ``with_structured_output`` chain
(its method, request and parser: ChatOpenAI's strict JSON schema, ChatAnthropic's ``json_schema`` or forced tool,
ChatBedrockConverse's tool), and the steps of that chain that call the model are routed through the wrapper.

LangChain's generic ``BaseChatModel.with_structured_output``, which a wrapper inherits, knows none of that: it drops
``method`` and ``strict`` and always forces a tool call, so a wrapper that did not route the model's own chain would
change what its users asked for.

>>> from langchain_core.runnables import RunnableLambda
>>> model, parser = RunnableLambda(lambda x: x + 1), RunnableLambda(lambda x: x * 10)
>>> routed = route_model_calls(model.bind() | parser, model, lambda step: RunnableLambda(lambda x: x + 2))
>>> routed.invoke(1)
30
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from langchain_core.runnables import Runnable, RunnableBinding, RunnableParallel, RunnableSequence
from langchain_core.runnables.fallbacks import RunnableWithFallbacks
from langchain_core.runnables.passthrough import RunnableAssign

__all__ = ["route_model_calls"]


Route = Callable[[Runnable[Any, Any]], Runnable[Any, Any] | None]


def route_model_calls(
    chain: Runnable[Any, Any], model: Runnable[Any, Any], wrap: Callable[[Runnable[Any, Any]], Runnable[Any, Any]]
) -> Runnable[Any, Any] | None:
    """``chain`` with each step that calls ``model`` (the model itself, or a binding of it: ``model.bind(...)``,
    ``model.bind_tools(...)``) replaced by ``wrap(step)``; ``None`` when no such step was found (a chain of a
    shape this does not walk: sequences, maps, assigns, fallbacks and bindings are walked)."""
    if chain is model or (isinstance(chain, RunnableBinding) and chain.bound is model):
        return wrap(chain)

    def route(step: Runnable[Any, Any]) -> Runnable[Any, Any] | None:
        return route_model_calls(step, model, wrap)

    for kind, walk in _WALKS:
        if isinstance(chain, kind):
            return walk(chain, route)
    return None


def _sequence(chain: Any, route: Route) -> Runnable[Any, Any] | None:
    steps = [route(step) for step in chain.steps]
    if all(step is None for step in steps):
        return None
    return RunnableSequence(*(new or old for new, old in zip(steps, chain.steps, strict=True)), name=chain.name)


def _parallel(chain: Any, route: Route) -> Runnable[Any, Any] | None:
    found = {key: route(step) for key, step in chain.steps__.items()}
    if all(step is None for step in found.values()):
        return None
    return RunnableParallel({key: found[key] or step for key, step in chain.steps__.items()})


def _assign(chain: Any, route: Route) -> Runnable[Any, Any] | None:
    mapper = route(chain.mapper)
    return None if mapper is None else RunnableAssign(mapper)  # type: ignore[arg-type]


def _fallbacks(chain: Any, route: Route) -> Runnable[Any, Any] | None:
    runnable = route(chain.runnable)
    fallbacks = [route(step) for step in chain.fallbacks]
    if runnable is None and all(step is None for step in fallbacks):
        return None
    update = {
        "runnable": runnable or chain.runnable,
        "fallbacks": [new or old for new, old in zip(fallbacks, chain.fallbacks, strict=True)],
    }
    return cast("Runnable[Any, Any]", chain.model_copy(update=update))


def _binding(chain: Any, route: Route) -> Runnable[Any, Any] | None:
    # e.g. `.with_config(...)` around a step that calls the model
    bound = route(chain.bound)
    return None if bound is None else cast("Runnable[Any, Any]", chain.model_copy(update={"bound": bound}))


_WALKS: tuple[tuple[type, Callable[[Any, Route], Runnable[Any, Any] | None]], ...] = (
    (RunnableSequence, _sequence),
    (RunnableParallel, _parallel),
    (RunnableAssign, _assign),
    (RunnableWithFallbacks, _fallbacks),
    (RunnableBinding, _binding),
)
