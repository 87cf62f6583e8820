"""`cache_points(graph, ...)`: prompt-cache breakpoints, per-node usage and a node cache for a whole compiled graph.

It returns a copy of the compiled graph whose default config carries a `CachepointCallbackHandler` (LangGraph
merges it into every run's config, next to the callbacks you pass), and, with ``cache=``, a `CachepointNodeCache`
namespaced for this graph. Why a handler in the run config rather than wrapping every node:

- it reaches every LLM call of the run, whatever made it: plain function nodes (whether or not they pass
  ``config`` on), prebuilt agents (``create_react_agent``, ``create_agent``), ``ToolNode``, subgraphs. Wrapping
  needs a node function to wrap; a prebuilt or compiled graph has none to offer without LangGraph's internals;
- LangGraph already labels each run with the node it belongs to (``langgraph_node``), and the handler records
  it, so per-node usage needs no wrapper;
- the graph stays a compiled graph (LangGraph's ``with_config`` semantics: same class, same nodes), so
  ``get_state``, stream modes and the node cache's keys (which name each node's function) are untouched.

Its checkpointer is a shallow copy of yours (same class, same storage) whose serializer writes the messages as you
left them, also those a call in flight has lent its markers (`cachepoint.langgraph.checkpoints`); your saver
object is not changed.

`cachepoint_node` remains for what only a wrapper can do: another strategy or ledger for one node.

>>> from typing import TypedDict
>>> from langgraph.graph import START, StateGraph
>>> from cachepoint.core.stores import MemoryStore
>>> from cachepoint.core.usage import UsageLedger
>>> class State(TypedDict):
...     question: str
>>> builder = StateGraph(State).add_node("answer", lambda state: {"question": state["question"]})
>>> ledger = UsageLedger()
>>> graph = cache_points(builder.add_edge(START, "answer").compile(name="helpdesk"), ledger=ledger,
...                      cache=MemoryStore(max_entries=1000))
>>> graph.cache.namespace.startswith("helpdesk-")
True
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from langchain_core.callbacks import BaseCallbackManager

from cachepoint.core.keys import fingerprint_value
from cachepoint.core.once import log_once
from cachepoint.core.prompt import Strategy
from cachepoint.core.stores import CacheStore
from cachepoint.core.traces import TraceWriter
from cachepoint.core.usage import OtelUsageRecorder, UsageLedger
from cachepoint.langchain import CachepointCallbackHandler
from cachepoint.langgraph.checkpoints import as_left_saver
from cachepoint.langgraph.node_cache import CachepointNodeCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

__all__ = ["cache_points", "graph_namespace"]

logger = logging.getLogger("cachepoint.langgraph")

G = TypeVar("G", bound="Pregel[Any, Any, Any, Any]")

_DEFAULT_NAME = "LangGraph"  # what LangGraph calls a graph nobody named


def cache_points(
    graph: G,
    *,
    strategy: Strategy | None = None,
    ledger: UsageLedger | None = None,
    cache: CacheStore | CachepointNodeCache | None = None,
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
    recorder: TraceWriter | str | os.PathLike[str] | None = None,
    otel: bool | OtelUsageRecorder = False,
) -> G:
    """A copy of the compiled ``graph`` whose LLM calls get prompt-cache breakpoints and are counted per node.

    Args:
        graph: a compiled graph (``builder.compile(...)``, ``create_react_agent(...)``, ``create_agent(...)``).
        strategy: where breakpoints go (default `auto()`).
        ledger: where usage goes, labelled ``node``, ``graph``, ``model``, ``provider``, ``tenant`` (run metadata
            ``tenant``); ``ledger.group_by("node")`` / ``ledger.to_rich_table("node")`` give the per-node table.
        cache: a store (or a `CachepointNodeCache`) for LangGraph's node cache: the nodes that have a
            ``cache_policy`` are served from it, under a namespace of this graph (the cache's own, or
            `graph_namespace`), and each node it serves counts in ``ledger`` as a replayed call of that node.
            Without it, a `CachepointNodeCache` already compiled into the graph gets the namespace and ledger.
            The copy's ``graph.cache`` is the node cache it uses (its ``stats``).
        name: the ``graph`` label and the base of the derived namespace (default: the graph's ``name``).
        labels: more labels for every ledger entry.
        recorder, otel: as for `CachepointCallbackHandler` (a trace for ``cachepoint analyze``; OpenTelemetry).

    >>> from typing import TypedDict
    >>> from langgraph.graph import START, StateGraph
    >>> class State(TypedDict):
    ...     n: int
    >>> graph = StateGraph(State).add_node("inc", lambda s: {"n": s["n"] + 1}).add_edge(START, "inc").compile()
    >>> cached = cache_points(graph, ledger=UsageLedger())
    >>> type(cached) is type(graph), cached.invoke({"n": 1})
    (True, {'n': 2})
    """
    if isinstance(graph, StateGraph):
        raise TypeError("cache_points: compile the graph first: cache_points(builder.compile(...), ...)")
    if not isinstance(graph, Pregel):
        raise TypeError(f"cache_points: expected a compiled LangGraph graph, got {type(graph).__name__}")
    graph_name = name or graph.name
    all_labels = {"graph": graph_name, **{str(k): str(v) for k, v in (labels or {}).items()}}
    handler = CachepointCallbackHandler(strategy, ledger=ledger, recorder=recorder, otel=otel, labels=all_labels)
    update: dict[str, Any] = {"config": {**(graph.config or {}), "callbacks": _callbacks(graph.config, handler)}}
    node_cache = _node_cache(graph, cache, graph_name, handler.ledger, all_labels)
    if node_cache is not None:
        update["cache"] = node_cache
    if isinstance(graph.checkpointer, BaseCheckpointSaver):
        # A checkpoint written while a call has lent one of its messages would keep that call's markers.
        update["checkpointer"] = as_left_saver(graph.checkpointer)
    return graph.copy(update)


def graph_namespace(graph: Pregel[Any, Any, Any, Any], name: str | None = None) -> str:
    """The node-cache namespace `cache_points` derives for a compiled graph: its name, then a digest of its shape
    (nodes, edges and channels, as ``graph.get_graph()`` draws them), so a graph whose nodes or edges change
    stops reading entries whose writes would route along the old edges.

    Two graphs that differ only inside their node functions (two agents with other prompts or tools) have the
    same shape: give them different names (``compile(name=...)``) or namespaces.

    >>> from typing import TypedDict
    >>> from langgraph.graph import START, StateGraph
    >>> class State(TypedDict):
    ...     x: int
    >>> builder = StateGraph(State).add_node("a", lambda s: s).add_edge(START, "a")
    >>> graph_namespace(builder.compile(name="pricing"))[:8]
    'pricing-'
    """
    name = name or graph.name
    drawn = graph.get_graph()
    shape = {
        "nodes": sorted(drawn.nodes),
        "edges": sorted([edge.source, edge.target, bool(edge.conditional)] for edge in drawn.edges),
        "channels": sorted(str(channel) for channel in graph.channels),
    }
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-._")[:40].rstrip("-._") or "graph"
    return f"{slug}-{fingerprint_value(shape, path='graph')[:12]}"


def _callbacks(config: Mapping[str, Any] | None, handler: CachepointCallbackHandler) -> Any:
    """The graph's own callbacks, minus any cachepoint handler a previous `cache_points` put there, plus ours."""
    callbacks = (config or {}).get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        for other in [*manager.handlers, *manager.inheritable_handlers]:
            if isinstance(other, CachepointCallbackHandler):
                manager.remove_handler(other)
        manager.add_handler(handler, inherit=True)
        return manager
    return [*(h for h in callbacks or () if not isinstance(h, CachepointCallbackHandler)), handler]


def _node_cache(
    graph: Pregel[Any, Any, Any, Any],
    cache: CacheStore | CachepointNodeCache | None,
    graph_name: str,
    ledger: UsageLedger,
    labels: Mapping[str, str],
) -> CachepointNodeCache | None:
    if cache is None:
        if not isinstance(graph.cache, CachepointNodeCache):
            return None  # no node cache, or one that is not ours: left as it is
        cache = graph.cache
    if not isinstance(cache, CachepointNodeCache):
        cache = CachepointNodeCache(cache)
    namespace = cache.namespace
    if namespace is None:
        namespace = graph_namespace(graph, graph_name)
        if graph_name == _DEFAULT_NAME:
            log_once(
                "unnamed-graph",
                f"cachepoint: the node cache of a graph named {_DEFAULT_NAME!r} (LangGraph's default) is namespaced "
                f"by the graph's shape only ({namespace!r}); graphs with the same nodes and edges would share "
                "entries: name the graph (compile(name=...)) or the cache's namespace",
                logger=logger,
            )
    return CachepointNodeCache(
        cache.store,
        namespace=namespace,
        serde=cache.serde,
        ledger=cache.ledger if cache.ledger is not None else ledger,
        labels={**labels, **cache.labels},
        codec=cache.codec,
    )
