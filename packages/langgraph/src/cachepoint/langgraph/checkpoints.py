"""Checkpoints of a `cache_points` graph hold the messages as the user left them, even those a call has lent.

The callback handler marks a call's messages by lending them a marked content while the call is in flight
(`cachepoint.langchain.patches`). A checkpointer that serializes one of those message objects meanwhile (another
thread's run sharing it, a subgraph or a node running beside the call) would save that call's markers. So
`cache_points` gives the graph a checkpointer whose serializer writes the caller's view of every value
(`loans.read_as_left`): lent messages as copies carrying their own content.

Why a shallow copy of the user's saver with another serializer, rather than the saver itself: a compiled graph
reaches its checkpointer only as ``graph.checkpointer`` (or one a parent graph passes its subgraphs through the
run config), and the saver serializes inside ``put`` / ``put_writes`` with its own ``serde``. Setting ``serde``
on the user's saver would change it for every other graph and caller that shares it; a copy shares its storage
(connections, dicts, locks) and changes nothing else. LangGraph derives savers the same way
(``BaseCheckpointSaver.with_allowlist``: ``copy.copy`` with another ``serde``).

>>> import uuid
>>> from langchain_core.messages import SystemMessage
>>> from langgraph.checkpoint.memory import InMemorySaver
>>> saver, manual, call = InMemorySaver(), SystemMessage("Manual"), uuid.uuid4()
>>> viewing = as_left_saver(saver)
>>> marked = [{"type": "text", "text": "Manual", "cache_control": {"type": "ephemeral"}}]
>>> _ = loans.lend(call, [manual], lambda frozen: {0: marked})  # what the handler does when a call starts
>>> saved = viewing.serde.dumps_typed([manual])
>>> manual.content is marked, viewing.serde.loads_typed(saved)[0].content
(True, 'Manual')
>>> loans.give_back(call), manual.content, saver.serde is not viewing.serde
(None, 'Manual', True)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from typing import Any

from cachepoint.langchain.patches import loans
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol

__all__ = ["AsLeftSerializer", "as_left_saver"]


class AsLeftSerializer:
    """A LangGraph serializer that writes what ``serde`` would write of the value as its callers left it
    (`loans.read_as_left`); it reads with ``serde`` unchanged.

    >>> from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    >>> serde = AsLeftSerializer(JsonPlusSerializer())
    >>> serde.loads_typed(serde.dumps_typed({"n": 1}))
    {'n': 1}
    """

    def __init__(self, serde: SerializerProtocol) -> None:
        self.serde = serde

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return loans.read_as_left(self.serde.dumps_typed, obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.serde.loads_typed(data)

    def with_msgpack_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> AsLeftSerializer:
        """The same view over ``serde``'s strict-msgpack derivative (LangGraph's ``JsonPlusSerializer`` has one)."""
        derive = getattr(self.serde, "with_msgpack_allowlist", None)
        derived = derive(extra_allowlist) if derive is not None else self.serde
        return self if derived is self.serde else AsLeftSerializer(derived)

    def __getattr__(self, name: str) -> Any:
        # Savers that read more of their serializer (an untyped ``dumps`` in older savers, ``pickle_fallback``)
        # get ``serde``'s, with ``dumps`` writing the view too. ``serde`` itself and dunders are never looked up
        # here (``copy`` and ``pickle`` probe a half-built object for them).
        if name == "serde" or name.startswith("__"):
            raise AttributeError(name)
        found = getattr(self.serde, name)
        if name == "dumps" and callable(found):
            dumps: Callable[[Any], Any] = found
            return lambda obj: loans.read_as_left(dumps, obj)
        return found

    def __repr__(self) -> str:
        return f"AsLeftSerializer({self.serde!r})"


def as_left_saver(saver: BaseCheckpointSaver[Any]) -> BaseCheckpointSaver[Any]:
    """A shallow copy of ``saver`` (same class, same storage) whose serializer writes values as their callers left
    them; ``saver`` itself is not changed. A saver that already does is returned as it is.

    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> saver = InMemorySaver()
    >>> viewing = as_left_saver(saver)
    >>> viewing.storage is saver.storage, type(viewing.serde).__name__, as_left_saver(viewing) is viewing
    (True, 'AsLeftSerializer', True)
    """
    if isinstance(saver.serde, AsLeftSerializer):
        return saver
    clone = copy.copy(saver)
    clone.serde = AsLeftSerializer(saver.serde)
    # Under LANGGRAPH_STRICT_MSGPACK, LangGraph derives each run's saver with ``with_allowlist``, which only
    # knows its own serializers: it would warn and drop the allowlist for ours. Derive from the user's saver
    # (whatever its serializer) and view that instead.
    vars(clone)["with_allowlist"] = lambda extra: as_left_saver(saver.with_allowlist(extra))
    return clone
