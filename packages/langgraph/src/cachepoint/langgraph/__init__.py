"""cachepoint for LangGraph: prompt-cache breakpoints and usage per node, and a node cache over cachepoint stores.

- `cache_points`: one line for a whole compiled graph: every LLM call of every node (prebuilt agents and
  subgraphs included) gets the strategy's breakpoints and is counted per node; with ``cache=`` the nodes that
  have a ``cache_policy`` are served from a cachepoint store.
- `cachepoint_node`: the same for one node function (its own strategy, ledger or labels).
- `CachepointNodeCache`: LangGraph's ``BaseCache`` over any cachepoint store: async, breaker-guarded (a sick
  store is a miss), namespaced per graph, no pickle.
- `message_cache_key`: a ``CachePolicy.key_func`` that ignores message ids and cache markers, so a node whose
  state holds messages can hit.

>>> from cachepoint.langgraph import cache_points, message_cache_key
>>> from langgraph.types import CachePolicy
>>> CachePolicy(key_func=message_cache_key, ttl=600).ttl
600
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from cachepoint.langgraph.graph import cache_points, graph_namespace
from cachepoint.langgraph.message_key import message_cache_key
from cachepoint.langgraph.node import CachepointNode, cachepoint_node
from cachepoint.langgraph.node_cache import CachepointNodeCache, NodeCacheStats

try:
    __version__ = version("cachepoint-langgraph")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "CachepointNode",
    "CachepointNodeCache",
    "NodeCacheStats",
    "__version__",
    "cache_points",
    "cachepoint_node",
    "graph_namespace",
    "message_cache_key",
]
