"""`CachepointLLMCache`: LangChain's LLM cache (``set_llm_cache(...)`` or a model's ``cache=``) over any cachepoint
store, through core's `ResponseCache`.

What it adds to LangChain's own caches:

- **Any store, never a failed call**: `MemoryStore`, `RedisStore` (Redis, Cluster, Sentinel, Valkey),
  `AiocacheStore` (Memcached...), `TieredStore`; behind core's circuit breaker, so a sick store is a miss.
- **Async-native**: ``alookup`` / ``aupdate`` / ``aclear`` await the store (LangChain's default runs the sync
  method in a thread). The sync methods go through core's one sync bridge, so they work from plain code, from
  many threads, and inside a running event loop (Jupyter). An in-process `MemoryStore` is read on the caller's
  thread: its read never waits on anything.
- **Keys that ignore cache markers**: LangChain keys its cache on the prompt as sent (with the ``cache_control``
  / ``cachePoint`` markers a callback or middleware placed) and on the model's parameters (a ``cache_control=``
  or ``prompt_cache_key`` kwarg, markers on tools). Those steer the provider's prompt cache, not the answer, so
  they are taken out of the key, as are message ids and per-run metadata; everything else that changes the
  answer stays in. The key is core's fingerprint (`cachepoint.core.keys`) under the policy's namespace, tenant
  and version.
- **Safe values**: generations are stored as ``langchain_core.load.dumps`` JSON inside core's codec envelope
  (checksummed, or HMAC-signed with ``Codec(signing_keys=...)``), and read back with ``loads`` admitting only
  generation and AI message classes. No pickle.
- **Each hit its own copy**: a hit returns a deep copy of the stored generations (made by `hit_copies.copier`,
  built once per parsed entry), so a caller or LangChain changing one answer (its metadata, its content list)
  never changes what a later hit returns. LangChain's own ``InMemoryCache`` shares them.
- **Honest hits**: a replayed message says so in ``response_metadata["cachepoint_cache"] == "hit"``, and with a
  ``ledger`` each hit is recorded as a hit with zero provider tokens (LangChain's own hit path repeats the first
  call's token counts in ``usage_metadata``, with ``total_cost: 0``).

>>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
>>> from langchain_core.messages import AIMessage
>>> from cachepoint.core.stores import MemoryStore
>>> cache = CachepointLLMCache(MemoryStore(max_entries=1000))
>>> model = GenericFakeChatModel(messages=iter([AIMessage("Paris."), AIMessage("Lyon?")]), cache=cache)
>>> [model.invoke("Capital of France?").text for _ in range(2)]
['Paris.', 'Paris.']
>>> model.invoke("Capital of France?").response_metadata["cachepoint_cache"]
'hit'
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from cachepoint.core.codec import Codec
from cachepoint.core.instrument import CallRecorder
from cachepoint.core.keys import fingerprint
from cachepoint.core.once import log_once
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import CacheStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain.hit_copies import copier
from cachepoint.langchain.usage import mark_hit, native_usage

__all__ = ["CachepointLLMCache"]


logger = logging.getLogger("cachepoint.langchain")

#: The classes a stored entry may hold: what a chat model or LLM returns, nothing that runs code on load.
ALLOWED_OBJECTS = (Generation, ChatGeneration, GenerationChunk, ChatGenerationChunk, AIMessage, AIMessageChunk)

# LangChain class names of the chat models whose provider cachepoint knows (for the ledger's provider label).
_PROVIDERS = {
    "ChatAnthropic": "anthropic",
    "ChatAnthropicBedrock": "bedrock",
    "ChatAnthropicMantle": "bedrock",
    "ChatBedrockConverse": "bedrock",
    "ChatBedrock": "bedrock",
    "ChatOpenAI": "openai",
    "AzureChatOpenAI": "azure",
}
_MODEL_FIELDS = ("model", "model_name", "model_id")
# The settings `CachePolicy` reads to tell a sampled call from a repeatable one.
_SAMPLING = ("temperature", "n", "candidate_count", "num_generations", "best_of")
# Bounded memos: a LangChain process asks about the same few models and, on hits, the same prompts again.
_KEY_MEMO = 4096
# The memo holds a short pair of key strings itself (a dict lookup hashes them faster than SHA-256 does) and a
# longer pair as a SHA-256 of the two; the strings it holds are bounded in all.
_KEY_BY_STRINGS = 16_384
_KEY_MEMO_CHARS = 4_000_000
_VALUE_MEMO = 1024


# Chat models LangChain cannot serialize whose LLM cache key (`_get_llm_string`: their `_identifying_params`)
# leaves out settings that change the answer: ChatAnthropicVertex (no stop sequences, thinking budget, model
# kwargs...; langchain-google-vertexai 3.2.5) and ChatAnthropicMantle (no stop sequences, betas, context
# management...; langchain-aws 1.9). A key that cannot tell two setups apart is no key: they are not cached.
_INCOMPLETE_KEYS = frozenset({"anthropic-chat-vertexai", "anthropic-mantle-chat"})


@dataclass(frozen=True)
class _Keyed:
    """What one (prompt, llm_string) pair is to the response cache: the request it looks up (``None``: the
    policy does not cache it) and that request's store key, and the model and provider for the ledger."""

    request: dict[str, Any] | None
    key: str | None
    model: str | None
    provider: str | None


@dataclass(frozen=True)
class _Stored:
    """One stored entry, parsed once: its generations (never handed out: the ledger reads their usage) and a
    function making a fresh deep copy of the list for a hit."""

    generations: list[Generation]
    fresh: Callable[[], list[Generation]]


class CachepointLLMCache(BaseCache):
    """LangChain's LLM cache over a cachepoint store: ``set_llm_cache(CachepointLLMCache(store))`` or
    ``ChatAnthropic(..., cache=CachepointLLMCache(store))``.

    Args:
        store: any `CacheStore` (wrapped in core's breaker-guarded store: a failing store is a miss).
        policy: a `CachePolicy`: ``namespace`` (default ``"langchain"``), ``tenant``, ``ttl``, ``version``,
            ``tags``. LangChain caches every call of a model its cache is set on, so the default policy does too
            (``cache_nondeterministic=True``); pass ``CachePolicy(..., cache_nondeterministic=False)`` to cache
            only calls made with ``temperature=0``.
        ledger: a `UsageLedger` each hit is recorded in (a replayed hit: zero provider tokens, no cost, what
            the stored answer's call cost as saved; labelled ``response_cache="hit"``); ``None``: hits are not
            recorded (`CachepointCallbackHandler` leaves this cache's hits to it).
        codec: how entries are encoded (default: JSON with a checksum); ``Codec(signing_keys=...)`` signs them.

    >>> from langchain_core.outputs import Generation
    >>> from cachepoint.core.stores import MemoryStore
    >>> cache = CachepointLLMCache(MemoryStore(max_entries=100))
    >>> cache.update("prompt", "llm", [Generation(text="answer")])
    >>> cache.lookup("prompt", "llm")
    [Generation(text='answer')]
    """

    def __init__(
        self,
        store: CacheStore,
        policy: CachePolicy | None = None,
        ledger: UsageLedger | None = None,
        *,
        codec: Codec | None = None,
    ) -> None:
        if policy is None:
            policy = CachePolicy("langchain", cache_nondeterministic=True)
        self.policy = policy
        self.response_cache = ResponseCache(store, policy, codec=codec)
        """The core `ResponseCache` underneath (its ``stats()`` count every lookup and write)."""
        self._sync = self.response_cache.sync
        self.calls = CallRecorder(ledger=ledger)
        self._keys: dict[tuple[str, str] | bytes, _Keyed] = {}
        self._key_chars = 0
        self._values: dict[str, _Stored] = {}
        self._lock = threading.Lock()

    @property
    def ledger(self) -> UsageLedger | None:
        """The `UsageLedger` hits are recorded in (``None``: not recorded)."""
        return self.calls.ledger

    # --- LangChain's BaseCache ---

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The generations stored for ``prompt`` and ``llm_string``, or ``None`` (LangChain calls this)."""
        # `_keyed`'s memo read inline for short key strings (the usual hit): one call less on every hit.
        keyed = self._keys.get((prompt, llm_string)) if len(prompt) + len(llm_string) <= _KEY_BY_STRINGS else None
        if keyed is None:
            keyed = self._keyed(prompt, llm_string)
        if keyed.key is None:
            return None
        # The sync face reads an in-process MemoryStore on this thread, any other store through core's bridge.
        found = self._sync.lookup_key(keyed.key, load=self._load)
        if found is None:
            return None
        if self.calls.ledger is None:  # `_hit` inline when there is nothing to record
            return found.value.fresh()  # type: ignore[no-any-return]
        return self._hit(found.value, keyed)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """`lookup` for async code, awaiting the store (LangChain calls this)."""
        keyed = self._keyed(prompt, llm_string)
        if keyed.key is None:
            return None
        found = await self.response_cache.lookup_key(keyed.key, load=self._load)
        return None if found is None else self._hit(found.value, keyed)

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store ``return_val`` for ``prompt`` and ``llm_string`` (LangChain calls this after a miss). An entry
        already stored for the same key is kept: both answer the same request."""
        keyed = self._keyed(prompt, llm_string)
        value = _dump(return_val) if keyed.request is not None else None
        if keyed.request is not None and value is not None:
            self.response_cache.sync.warm([keyed.request], lambda _request: value)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """`update` for async code, awaiting the store (LangChain calls this)."""
        keyed = self._keyed(prompt, llm_string)
        value = _dump(return_val) if keyed.request is not None else None
        if keyed.request is None or value is None:
            return

        async def stored(_request: Mapping[str, Any]) -> str:
            return value

        await self.response_cache.warm([keyed.request], stored)

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry of the policy's namespace (all its tenants and versions). Store errors raise: a
        clear that silently did nothing would keep serving old answers."""
        self.response_cache.sync.clear()
        self._forget()

    async def aclear(self, **kwargs: Any) -> None:
        """`clear` for async code."""
        await self.response_cache.clear()
        self._forget()

    def __repr__(self) -> str:
        return f"CachepointLLMCache({self.response_cache.backend!r}, namespace={self.policy.namespace!r})"

    # --- keys ---

    def _keyed(self, prompt: str, llm_string: str) -> _Keyed:
        """The request for ``(prompt, llm_string)``, remembered by the two strings, or a digest of two long ones
        (a hit asks again)."""
        size = len(prompt) + len(llm_string)
        memo: tuple[str, str] | bytes
        if size <= _KEY_BY_STRINGS:
            memo = (prompt, llm_string)
        else:
            raw = prompt.encode()
            memo = hashlib.sha256(b"%d:%b%b" % (len(raw), raw, llm_string.encode())).digest()  # length: unambiguous
        keyed = self._keys.get(memo)
        if keyed is None:
            keyed = self._key(prompt, llm_string)
            self._remember(memo, keyed)
        return keyed

    def _remember(self, memo: tuple[str, str] | bytes, keyed: _Keyed) -> None:
        """Add to the key memo, dropping its oldest entries while it is over its bounds (entries, characters)."""
        held = _chars(memo)
        with self._lock:
            keys = self._keys
            if memo in keys:  # another thread keyed the same pair meanwhile
                return
            while keys and (len(keys) >= _KEY_MEMO or self._key_chars + held > _KEY_MEMO_CHARS):
                self._key_chars -= _chars(next(iter(keys)))
                del keys[next(iter(keys))]
            keys[memo] = keyed
            self._key_chars += held

    def _key(self, prompt: str, llm_string: str) -> _Keyed:
        try:
            request, name, provider = self._normalized_key(prompt, llm_string)
        except Exception as exc:  # a bug here must not fail the call: key the strings as LangChain gave them
            log_once(
                f"llm-cache-key:{type(exc).__name__}",
                "cachepoint: CachepointLLMCache keyed a call on LangChain's strings as given, markers and all (%s: %s)",
                type(exc).__name__,
                exc,
                logger=logger,
            )
            name = provider = None
            raw = {"langchain": fingerprint({"prompt": prompt, "llm_string": llm_string})}
            request = raw if self.policy.cache_nondeterministic else None
        if request is None:
            return _Keyed(None, None, name, provider)
        # The store key is derived once here (the policy's namespace, tenant and version are fixed), not per hit.
        return _Keyed(request, self.response_cache.key_for(request), name, provider)

    def _normalized_key(self, prompt: str, llm_string: str) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """The request the response cache keys (``None``: the policy does not cache the call), the model and the
        provider."""
        model, params = parse_llm_string(llm_string)
        if model is None and params.get("_type") in _INCOMPLETE_KEYS:
            kind = params["_type"]
            log_once(
                f"llm-cache-incomplete:{kind}",
                f"cachepoint: CachepointLLMCache does not cache {kind} calls: LangChain cannot serialize that model, "
                "and the key it gives an LLM cache for it leaves out settings that change the answer (stop "
                "sequences, thinking budgets, betas), so one setup would get another's answer. "
                "with_cache_points(model, response_cache=...) keys them all",
                logger=logger,
            )
            return None, None, None
        request: dict[str, Any] = {**params, "messages": parse_prompt(prompt)}
        if model is not None:
            if "model" in params:  # a call's own `model=` (sent over the model's): kept beside the serialized model
                request["$call.model"] = params["model"]
            request["model"] = model
        name, provider = _model_of(model, params)
        if not self.response_cache.cacheable(_sampling(name, model, params)):
            return None, name, provider
        try:
            digest = fingerprint(request)
        except Exception:  # a value core cannot key: key the strings as LangChain gave them (markers and all)
            digest = fingerprint({"prompt": prompt, "llm_string": llm_string})
        # The response cache keys this small request: the fingerprint of the normalized one.
        return {"langchain": digest}, name, provider

    # --- values ---

    def _load(self, data: Any) -> _Stored:
        """Stored JSON to generations, chat messages marked as hits, and their copiers; the same stored text is
        parsed once (a hit asks again)."""
        if not isinstance(data, str):
            raise TypeError(f"a LangChain cache entry holds JSON text, got {type(data).__name__}")
        stored = self._values.get(data)
        if stored is None:
            generations = [
                g.model_copy(update={"message": mark_hit(g.message, self.calls.ledger)})
                if isinstance(g, ChatGeneration)
                else g
                for g in _parse_generations(data)
            ]
            stored = _Stored(generations, copier(generations))
            with self._lock:
                if len(self._values) >= _VALUE_MEMO:
                    del self._values[next(iter(self._values))]
                self._values[data] = stored
        return stored

    def _hit(self, stored: _Stored, keyed: _Keyed) -> list[Generation]:
        """The hit recorded, and a deep copy of the stored generations of its own: LangChain and the caller
        change what a hit returns (its message, metadata, content lists), and no later hit may see that."""
        if self.calls.ledger is not None:
            labels = {"tenant": self.policy.tenant} if self.policy.tenant else {}
            message = next((g.message for g in stored.generations if isinstance(g, ChatGeneration)), None)
            self.calls.record_hit(
                provider=keyed.provider,
                model=keyed.model,
                labels=labels,
                usage=native_usage(message) if message is not None else None,
            )
        return stored.fresh()

    def _forget(self) -> None:
        with self._lock:
            self._values.clear()


def _chars(memo: tuple[str, str] | bytes) -> int:
    """The characters of key strings a key-memo entry holds (none for a digest)."""
    return len(memo[0]) + len(memo[1]) if isinstance(memo, tuple) else 0


def _dump(return_val: Sequence[Generation]) -> str | None:
    """The generations as JSON, or ``None`` (logged once) when they cannot be written: the call still returns."""
    try:
        return dumps(list(return_val))
    except Exception as exc:
        log_once(
            f"llm-cache-dump:{type(exc).__name__}",
            "cachepoint: CachepointLLMCache could not store an answer (%s: %s)",
            type(exc).__name__,
            exc,
            logger=logger,
        )
        return None


def _parse_generations(data: str) -> list[Generation]:
    with warnings.catch_warnings():  # `loads` says it is in beta on every call; it is the documented way
        warnings.filterwarnings("ignore", message="The function `loads` is in beta")
        loaded = loads(data, allowed_objects=ALLOWED_OBJECTS)
    if not isinstance(loaded, list) or not all(isinstance(g, Generation) for g in loaded):
        raise TypeError("a LangChain cache entry must hold a list of generations")
    return loaded


# --- what LangChain's key strings hold ---


def parse_prompt(prompt: str) -> Any:
    """The messages in LangChain's prompt key (``dumps`` of the messages, ids removed), with what cachepoint's
    own markers change undone: a string content turned into one marked text block (or a tool message turned
    into one marked tool result) is the string again. Core's fingerprint strips the markers themselves. A
    prompt that is not LangChain's JSON (an LLM's plain text prompt) is kept as it is.

    >>> from langchain_core.load import dumps
    >>> from langchain_core.messages import HumanMessage
    >>> marked = HumanMessage([{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}])
    >>> parse_prompt(dumps([marked])) == parse_prompt(dumps([HumanMessage("Hi")]))
    True
    """
    try:
        messages = json.loads(prompt)
    except ValueError:
        return prompt
    if not isinstance(messages, list):
        return messages
    return [_unmarked(message) for message in messages]


def _unmarked(message: Any) -> Any:
    kwargs = message.get("kwargs") if isinstance(message, dict) else None
    content = kwargs.get("content") if isinstance(kwargs, dict) else None
    if not isinstance(content, list) or not isinstance(kwargs, dict):
        return message
    blocks = [b for b in content if not (isinstance(b, dict) and len(b) == 1 and "cachePoint" in b)]
    if len(blocks) == 1 and isinstance(blocks[0], dict):
        block = {k: v for k, v in blocks[0].items() if k != "cache_control"}
        if block.get("type") == "text" and set(block) == {"type", "text"}:
            return {**message, "kwargs": {**kwargs, "content": block["text"]}}
        if (
            block.get("type") == "tool_result"
            and block.get("tool_use_id") == kwargs.get("tool_call_id")
            and set(block) == {"type", "content", "tool_use_id", "is_error"}
            and block["is_error"] == (kwargs.get("status") == "error")
        ):
            return {**message, "kwargs": {**kwargs, "content": block["content"]}}
    if len(blocks) != len(content):
        return {**message, "kwargs": {**kwargs, "content": blocks}}
    return message


def parse_llm_string(llm_string: str) -> tuple[Any, dict[str, Any]]:
    """The model (``dumpd`` of a serializable model, else ``None``) and the call parameters in LangChain's
    ``llm_string`` (``<model JSON>---<sorted kwargs>``, or the sorted invocation parameters of a model that is
    not serializable). Parameters that are not plain literals keep the whole string as one parameter.

    >>> parse_llm_string('{"lc": 1}---[(\\'cache_control\\', {\\'type\\': \\'ephemeral\\'}), (\\'stop\\', None)]')
    ({'lc': 1}, {'cache_control': {'type': 'ephemeral'}, 'stop': None})
    >>> parse_llm_string("[('_type', 'generic-fake-chat-model'), ('stop', None)]")
    (None, {'_type': 'generic-fake-chat-model', 'stop': None})
    """
    model: Any = None
    rest = llm_string
    if llm_string.startswith("{"):
        try:
            model, end = json.JSONDecoder().raw_decode(llm_string)
        except ValueError:
            return None, {"llm_string": llm_string}
        if not llm_string.startswith("---", end):
            return None, {"llm_string": llm_string}
        rest = llm_string[end + 3 :]
    try:
        pairs = ast.literal_eval(rest)  # literals only: never runs code
        params = dict(pairs)
    except Exception:  # not literals (an object's repr), or not pairs
        return model, {"llm_params": rest}
    if not all(isinstance(name, str) for name in params):
        return model, {"llm_params": rest}
    return model, params


def _sampling(name: str | None, model: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the policy judges a call by (``temperature``, number of candidates), whether the model was built with
    it or it was passed to the call, in the shape of a provider request."""
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
    settings = {**(kwargs if isinstance(kwargs, dict) else {}), **params}
    check = {"model": name or "unknown", "messages": []}
    check.update({k: settings[k] for k in _SAMPLING if settings.get(k) is not None})
    return check


def _model_of(model: Any, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The model id and the provider for the ledger, from the parsed llm_string."""
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
    sources = [s for s in (params, kwargs) if isinstance(s, Mapping)]  # a call's `model=` wins over the model's
    name = next((s[f] for s in sources for f in _MODEL_FIELDS if isinstance(s.get(f), str)), None)
    path = model.get("id") if isinstance(model, dict) else None
    provider = _PROVIDERS.get(path[-1]) if isinstance(path, list) and path and isinstance(path[-1], str) else None
    return name, provider
