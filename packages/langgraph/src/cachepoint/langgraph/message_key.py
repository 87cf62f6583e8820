"""`message_cache_key`: a ``CachePolicy.key_func`` under which a node whose state holds messages can hit.

**The trap it avoids.** LangGraph's default key pickles the node's whole input. With an ``add_messages`` state,
every message gets a fresh random ``id`` on every run (``HumanMessage("hi")`` becomes one with
``id="4f0c..."``), and answers carry their own per-call ids and metadata, so the same conversation has a new key
each time and the node cache never hits: it only fills the store. (Prompt-cache markers someone put on a message,
a ``cache_control`` block or a ``cachePoint``, would change the key the same way while not changing the answer.)

``message_cache_key`` keys what the model reads instead: every LangChain message (at any depth of the state, in
any list or field) is keyed by core's canonical form of a chat message, which drops the message ``id``,
``response_metadata``, ``usage_metadata`` and cache markers, and keeps everything else: content, role, name,
tool calls and their ids (the model pairs results with calls by them). The rest of the state is keyed as it is,
through the same canonical JSON (`cachepoint.core.keys.fingerprint_value`): two states that differ anywhere a
node can see, other than those labels, get different keys. A value canonical JSON cannot write raises
`FingerprintError` naming its place in the state (``state['docs'][0]: unsupported type 'Doc'``).

>>> from langchain_core.messages import AIMessage, HumanMessage
>>> first = {"messages": [HumanMessage("hi", id="run-1"), AIMessage("hello", id="msg_01")], "user": "ada"}
>>> again = {"messages": [HumanMessage("hi", id="run-2"), AIMessage("hello", id="msg_02")], "user": "ada"}
>>> message_cache_key(first) == message_cache_key(again)
True
>>> message_cache_key(first) == message_cache_key({**first, "user": "grace"})
False

Use it as the node's key: ``builder.add_node("answer", answer, cache_policy=CachePolicy(key_func=message_cache_key,
ttl=600))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from cachepoint.core.keys import canonical_request, fingerprint_value

__all__ = ["message_cache_key"]


def message_cache_key(state: Any) -> str:
    """The node-cache key of a node's input (its state, or a ``Send`` argument) with message ids, metadata and
    cache markers left out: SHA-256 hex of its canonical JSON.

    >>> from langchain_core.messages import HumanMessage
    >>> marked = HumanMessage([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}])
    >>> plain = HumanMessage([{"type": "text", "text": "hi"}])
    >>> message_cache_key({"messages": [marked]}) == message_cache_key({"messages": [plain]})
    True
    """
    return fingerprint_value(_canonical(state), path="state")


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return _canonical(_message(value))
    if isinstance(value, BaseModel):  # a pydantic state: its fields, messages still objects
        return {name: _canonical(item) for name, item in value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        if "content" in value:  # a message as a dict (LangChain's or a provider's shape)
            value = _message(value)
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _message(message: Any) -> Any:
    """Core's canonical form of one chat message (the one its request fingerprints use)."""
    return canonical_request({"messages": [message]})["messages"][0]
