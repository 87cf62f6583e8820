"""`ViewBuilder`: payloads to `PrefixView`s at trace speed, by working out each repeated piece once.

In a recorded trace, and in a live agent, a request mostly repeats an earlier one: the same tools and system
prompt, the conversation so far, and one or two new messages at the end. ``builder.view(payload)`` returns
exactly what ``Request.parse(payload).positions(...)`` returns (same positions, hashes, token counts, eligibility,
breakpoints, and an equal `Request`), but:

- the **shell** (everything except the conversation: tools, system, parameters) is parsed once per distinct
  shell, and its positions computed once per shell and model;
- each **message** is parsed once per distinct message (identified by its JSON bytes), and its positions are
  computed once per distinct *prefix before it*: a position's prefix hash, running token total and lookback
  index depend on everything before it, so they are remembered after that exact prefix. A session's next turn
  then costs one lookup per earlier message and real work only for the new ones;
- a block's digest and token count are remembered by its canonical bytes, so a message that differs from one
  seen before only by its cache marker (the previous last turn, once the app moved its breakpoint) reuses them;
- **format detection** adds up per-message scores remembered with each message.

Every memo is bounded (``max_entries`` and ``max_bytes``, split between them) and keeps what was used recently
(`cachepoint.core.lru.LRU`); the bytes are counted at what entries really hold (see `ViewBuilder`).

The plain path runs instead when a payload is a `Request` the builder did not parse, is not plain JSON data (a
Bedrock payload holding ``bytes`` for boto3), is in a format whose dialect does not parse messages one at a
time (`Dialect.messages_key` empty), or has no conversation list (an OpenAI Responses string ``input``, or bad
input, whose error then comes from the plain parser). Payloads are read as JSON values: a tuple and a list with
the same items are the same message to the memo (the view is identical either way; ``view.request`` holds the
first spelling seen).

A builder is meant to live as long as a trace replay or an application process; sharing one between threads is
safe (entries are immutable and keyed by content; a race at worst costs a miss).

>>> from cachepoint.core.prompt import ViewBuilder
>>> builder = ViewBuilder(provider="anthropic")
>>> base = {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "You are terse.",
...         "messages": [{"role": "user", "content": "Hi"}]}
>>> first = builder.view(base)
>>> turn = {**base, "messages": [*base["messages"], {"role": "assistant", "content": "Hello."},
...                              {"role": "user", "content": "Bye"}]}
>>> second = builder.view(turn)
>>> second[1].prefix_hash == first[1].prefix_hash, builder.stats.message_hits
(True, 1)
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from cachepoint.core.lru import LRU
from cachepoint.core.prompt.formats import get_format, pick_format, registered_dialects
from cachepoint.core.prompt.formats.base import DETECT_MESSAGES, Dialect, dumps
from cachepoint.core.prompt.model import Message, Request
from cachepoint.core.prompt.positions import (
    ExistingBreakpoint,
    Position,
    PrefixView,
    Walk,
    WalkState,
    _tools_preamble,
    implied_breakpoints,
)
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info
from cachepoint.core.tokens import DEFAULT_COUNTER, EstimateCounter, TokenCounter

__all__ = ["ViewBuilder", "ViewBuilderStats"]

#: Bytes one cached `Position` holds (the object, two hex digests, a path, a locator; tracemalloc, see below).
_POSITION_BYTES = 640
#: What follows an element of a JSON list: "," or "]".
_LIST_GAPS = (ord(","), ord("]"))
#: Format verdicts remembered by their detection scores (a trace has a handful of distinct ones).
_MAX_PICKED = 4096


@dataclass
class ViewBuilderStats:
    """What a `ViewBuilder` did so far.

    ``requests`` built, of which ``fallbacks`` went the plain way (see the module notes); ``message_hits`` /
    ``message_misses`` count messages whose positions were reused / computed, ``shell_misses`` shells parsed,
    ``block_hits`` / ``block_misses`` blocks whose digest and tokens were reused / computed, ``entries`` the
    memo entries held now and ``evictions`` the ones dropped to stay within budget.

    >>> ViewBuilderStats().message_hits
    0
    """

    requests: int = 0
    fallbacks: int = 0
    message_hits: int = 0
    message_misses: int = 0
    shell_misses: int = 0
    block_hits: int = 0
    block_misses: int = 0
    entries: int = 0
    evictions: int = 0


def _own(data: bytes) -> bytes:
    """``data`` copied into an object of its own length, for a memo to keep.

    ``orjson.dumps`` (3.13) returns bytes whose allocation is 4 to 8 times their length, and at least 4 KiB: 100,000
    dumps of a 40-byte list held 412 MB of RSS, their copies 11 MB. A memo keeping its JSON keys kept that slack:
    it was most of the memory of ``_blocks`` (10x its estimate), ``_messages`` and ``_sessions``. The copy costs a
    memcpy, made only when an entry is stored."""
    return bytes(memoryview(data))


def with_messages(request: Request, messages: tuple[Message, ...]) -> Request:
    """``dataclasses.replace(request, messages=messages)``, written out: ``replace`` looks up the fields and
    checks each on every call, twice the cost of the constructor itself (once per request in a trace).
    `tests/core/prompt/test_fast_paths.py` checks it still copies every field of `Request`."""
    return Request(
        format=request.format,
        messages=messages,
        system=request.system,
        tools=request.tools,
        params=request.params,
        automatic=request.automatic,
        layout=request.layout,
    )


class _Estimates:
    """The default estimator without its memo, for the builder's walks: the builder remembers each block's tokens
    by its content already (``_blocks``), so it counts only new texts, and the counter's own lock, lookup and
    store (a string hash of every new text) would buy nothing. Same numbers as `EstimateCounter.count`."""

    __slots__ = ()

    def count(self, text: str) -> int:
        return EstimateCounter.estimate(text)


_ESTIMATES = _Estimates()


class _Shell:
    """A parsed shell (messages empty) and what follows from it per model."""

    __slots__ = ("contexts", "heads", "last", "request", "salt", "size")

    def __init__(self, request: Request, size: int) -> None:
        self.request = request
        self.salt = dict(get_format(request.format).level_salt(request))
        self.size = size
        self.contexts: dict[ModelInfo | None, tuple[int, int]] = {}  # info -> (context id, tools preamble)
        self.heads: dict[int, _Chunk] = {}  # context id -> tools and system positions
        self.last: tuple[ModelInfo | None, tuple[int, int]] | None = None  # the rules asked last, their context


class _Message:
    """One distinct message: its JSON bytes, detection scores (one per registered dialect), parses per format."""

    __slots__ = ("key", "parsed", "scores")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.scores: tuple[int, ...] | None = None
        self.parsed: dict[str, Message] = {}


class _Chunk:
    """The positions of one segment (the head, or one message) after a given prefix, and the walk state after it."""

    __slots__ = ("marked", "positions", "state")

    def __init__(self, positions: list[Position], marked: list[ExistingBreakpoint], state: WalkState) -> None:
        self.positions = tuple(positions)
        self.marked = tuple(marked)
        self.state = state


class _Session:
    """The last request of a conversation (found by its opening messages), so its next turn is matched at once.

    ``text`` is the JSON of its message list, ``ends`` the offset just past each message in it, ``entries`` the
    messages. Once the request's view is built, ``view`` holds it for the next turn: the shell and context it
    was built for, the positions, breakpoints found, and the walk state at the end of each message.
    """

    __slots__ = ("detect_sums", "ends", "entries", "format", "messages", "text", "view")

    def __init__(self, text: bytes, ends: list[int], entries: list[_Message]) -> None:
        self.text = text
        self.ends = ends
        self.entries = entries
        self.format = ""
        self.messages: tuple[Message, ...] = ()
        self.view: _SessionView | None = None
        #: Running sums of the first messages' detection scores (one tuple per message, one score per dialect).
        self.detect_sums: list[tuple[int, ...]] = []


@dataclass(slots=True)
class _SessionView:
    shell: _Shell
    ctx_id: int
    positions: list[Position]
    position_ends: list[int]  # positions held through each message (the head included)
    marked: list[ExistingBreakpoint]
    marked_ends: list[int]
    states: list[WalkState]  # the walk state after each message


# What a memo entry really holds, for the byte budget. An entry's size must not change while it is held (the memo
# subtracts at eviction what it added when storing), so each is computed from what the entry holds when stored:
# its key, and for a session the JSON of its messages and their count. The constants were calibrated with
# tracemalloc (builder alive vs cleared memo by memo, then deleted) on the shipped traces made distinct
# per replay (Anthropic support_agent and coding_session, Bedrock coding_agent, OpenAI rag_docs) and on
# `benchmarks/bench_analyze.py`'s generated trace, each filling an 8 MiB builder; each is the largest ratio seen,
# so the bytes counted are at least the bytes held. Memos share objects (a session holds its messages' parses and
# the positions of its view; a chunk's key holds its message's JSON), and each charges what it keeps alive on its
# own once the other memo has let go, so a full builder holds a little less than ``max_bytes``.


def _shell_size(key: bytes, _: object) -> int:
    # The key; the parsed tools and system (their strings and block objects, ~1x the JSON) and the head's positions
    # per context (~1.5x): 1.1x to 3.5x the key's length measured.
    return len(key) * 7 // 2 + 8192


def _scores_size(key: bytes, _: object) -> int:
    # The key is the shell's own (one object, charged there too) and a tuple of small ints.
    return len(key) + 200


def _session_size(key: bytes, session: _Session) -> int:
    # The key and the message list's JSON; the parses of its messages (~1x their JSON, alive as long as the session
    # even when `_messages` forgot them: charged again, ~1x); per message its end offset, entry, walk state after it
    # (a 7-tuple and a 32-byte hash), and its share of the view's lists: ~600 bytes. Measured 0.6x to 1.0x of this.
    return len(key) + 3 * len(session.text) + 600 * len(session.ends) + 1024


def _message_size(key: bytes, _: object) -> int:
    # The key, the parsed `Message` (its text strings are the payload's, kept alive: ~1x the key, plus block objects
    # and dicts), detection scores: 2.3x to 4.8x the key's length (short messages cost more per byte).
    return len(key) * 5 // 2 + 1400


def _chunk_size(key: tuple[WalkState, int, int, bytes], chunk: _Chunk) -> int:
    # The key holds the message's JSON (alive after `_messages` forgot it: in rag_docs, 8 KB messages, it was most
    # of the chain) and two walk states (key and chunk: 7-tuples with a 32-byte hash); the positions tuple.
    return len(key[3]) + 700 + _POSITION_BYTES * len(chunk.positions) + 100 * len(chunk.marked)


def _block_size(key: tuple[str, bytes], _: object) -> int:
    # The canonical bytes (copied to their length, see `_own`), the key and value tuples, a 32-byte digest and a
    # token count, the memo's node: measured len + 300 to 330.
    return len(key[1]) + 350


class _Parsed:
    """A request this builder parsed: its shell, its messages' entries, its conversation record, and the record
    of the earlier turn whose first ``matched`` messages it repeats (for `positions`)."""

    __slots__ = ("matched", "messages", "previous", "request", "session", "shell")

    def __init__(self, request: Request, shell: _Shell, conversation: _Conversation) -> None:
        self.request = request
        self.shell = shell
        self.messages, self.session, self.previous, self.matched = conversation


#: A message list as `ViewBuilder._conversation` finds it: entries, its record, the earlier turn's record and how
#: many leading messages the two share.
_Conversation = tuple[list[_Message], "_Session | None", "_Session | None", int]


class ViewBuilder:
    """Turns payloads into `PrefixView`s (and `Request`s), reusing the work done for earlier payloads.

    Keep one per trace (the analyzer) or per process (middleware). ``provider``, ``model``, ``format`` are
    defaults for every call; ``counter`` counts tokens (the default estimator if not given), ``table`` is the
    provider table, ``lenient`` is `Request.parse`'s. ``max_entries`` and ``max_bytes`` bound the memos together.

    ``max_bytes`` (default 128 MiB) bounds the memory the builder holds: each entry is counted at what it keeps
    alive (its JSON, parses, positions; calibrated on Anthropic, Bedrock and OpenAI traffic), and a full builder
    measured 0.5 to 0.8 times ``max_bytes`` (tracemalloc; never above 1.25x, which a test holds it to). The default
    fits several hundred conversations in progress, which is what a process-wide builder needs to view an agent's
    next turn cheaply; an older conversation's next turn is viewed from scratch (the same result, more work).

    >>> builder = ViewBuilder(provider="openai")
    >>> view = builder.view({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]})
    >>> view.request.format, [p.path for p in view]
    ('openai-chat', ['messages[0].content'])
    """

    def __init__(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        format: str | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
        lenient: bool = False,
        max_entries: int = 200_000,
        max_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        if max_entries < 256 or max_bytes < 64 * 1024:
            raise ValueError("ViewBuilder: max_entries must be >= 256 and max_bytes >= 64 KiB")
        self.provider = provider
        self.model = model
        self.format = format
        self.counter: TokenCounter = counter or DEFAULT_COUNTER
        self.table = table
        self.lenient = lenient
        self._stats = ViewBuilderStats()
        # Entries and bytes are split between the memos by what a long trace fills them with (the shares add up to
        # at most the whole budget).
        n, size = max_entries, max_bytes
        self._shells: LRU[bytes, dict[str, _Shell]] = LRU(n // 64, max_bytes=size // 16, size=_shell_size)
        self._payload_scores: LRU[bytes, tuple[int, ...]] = LRU(n // 64, max_bytes=size // 64, size=_scores_size)
        self._sessions: LRU[bytes, _Session] = LRU(n // 32, max_bytes=size // 8, size=_session_size)
        self._messages: LRU[bytes, _Message] = LRU(n // 4, max_bytes=size // 4, size=_message_size)
        self._chain: LRU[tuple[WalkState, int, int, bytes], _Chunk] = LRU(n // 4, max_bytes=size // 4, size=_chunk_size)
        self._blocks: LRU[tuple[str, bytes], tuple[bytes, int]] = LRU(
            n * 7 // 16, max_bytes=size // 4, size=_block_size
        )
        self._last_shell = b""
        # The dialects detection scores were computed for, their names, whether all score message by message
        # (one tuple, replaced whole, so a thread never sees half of an update).
        self._registry: tuple[tuple[Dialect, ...], tuple[str, ...], bool] = ((), (), False)
        #: (score totals, provider, model) -> the format `pick_format` picks for them.
        self._picked: dict[tuple[tuple[int, ...], str | None, str | None], str] = {}
        self._contexts: dict[tuple[str, ModelInfo | None, bytes, int], int] = {}
        self._context_ids = itertools.count()
        self._recent: dict[int, _Parsed] = {}
        self._lock = threading.Lock()

    # --- public API ---

    @property
    def stats(self) -> ViewBuilderStats:
        """Counters so far (a snapshot)."""
        caches = self._caches()
        return replace(
            self._stats,
            entries=sum(len(c) for c in caches),
            evictions=sum(c.evictions for c in caches),
        )

    def clear(self) -> None:
        """Forget everything remembered (the counters stay)."""
        for cache in self._caches():
            cache.clear()
        self._last_shell = b""
        self._contexts.clear()
        self._picked.clear()
        with self._lock:
            self._recent.clear()

    def parse(self, payload: Mapping[str, Any], *, format: str | None = None, provider: str | None = None) -> Request:
        """`Request.parse` of ``payload`` (with this builder's ``lenient``), parsing only what is new.

        >>> builder = ViewBuilder()
        >>> payload = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
        >>> builder.parse(payload) == Request.parse(payload)
        True
        """
        provider = provider or self.provider
        parsed = self._parse(payload, format or self.format, provider)
        if parsed is None:
            return Request.parse(payload, format=format or self.format, provider=provider, lenient=self.lenient)
        return parsed.request

    def positions(
        self,
        request: Request,
        *,
        provider: str | None = None,
        model: str | None = None,
        info: ModelInfo | None = None,
    ) -> PrefixView:
        """`Request.positions` of a request: fast for one this builder just parsed (the last few), plain otherwise.

        >>> builder = ViewBuilder(provider="anthropic")
        >>> request = builder.parse({"model": "claude-sonnet-4-5", "max_tokens": 8,
        ...                          "messages": [{"role": "user", "content": "Hi"}]})
        >>> builder.positions(request).total_tokens == request.positions(provider="anthropic").total_tokens
        True
        """
        provider = provider or self.provider
        model = model or self.model
        parsed = self._recent.get(id(request))
        if parsed is None or parsed.request is not request:
            self._stats.requests += 1
            self._stats.fallbacks += 1
            return request.positions(provider=provider, model=model, info=info, counter=self.counter, table=self.table)
        if info is None and provider is not None:
            model = model or request.model
            info = model_info(provider, model, table=self.table) if model else None
        return self._view(parsed, info)

    def view(
        self,
        payload: Mapping[str, Any] | Request,
        *,
        format: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        info: ModelInfo | None = None,
    ) -> PrefixView:
        """``Request.parse(payload, format=..., provider=...).positions(provider=..., model=..., info=...)``, fast.

        >>> view = ViewBuilder().view({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Be brief.",
        ...                            "messages": [{"role": "user", "content": "Hi"}]}, provider="anthropic")
        >>> [p.path for p in view]
        ['system', 'messages[0].content']
        """
        provider = provider or self.provider
        if isinstance(payload, Request):
            return self.positions(payload, provider=provider, model=model, info=info)
        request = self.parse(payload, format=format, provider=provider)
        return self.positions(request, provider=provider, model=model, info=info)

    def _caches(self) -> tuple[LRU[Any, Any], ...]:
        return (self._shells, self._payload_scores, self._sessions, self._messages, self._chain, self._blocks)

    # --- parsing ---

    def _conversation(self, items: list[Any]) -> _Conversation | None:
        """The entries of a message list, and its conversation record (new) and the record it continues, if any.

        The list is serialized once. If a conversation with the same opening messages was seen, the longest of
        its message prefixes that this list repeats byte for byte (all of it, or all but its last message, whose
        cache marker has usually moved since) is taken over without looking at those messages again; the rest is
        serialized and looked up one message at a time.
        """
        json = orjson.dumps
        try:
            text = json(items)
        except TypeError:
            return None  # not plain JSON (bytes, a Mapping that is no dict...): the plain path decides
        count = len(items)
        if not count:
            return [], None, None, 0
        # A conversation is recognized by its first message, or its first two when the first is a system prompt
        # (the same for every session of an agent).
        lead = 1 + len(json(items[0]))
        first = items[0]
        if count > 1 and type(first) is dict and first.get("role") in ("system", "developer"):
            lead += 1 + len(json(items[1]))
        key = text[:lead]
        sessions = self._sessions
        previous = sessions.get(key)
        matched = 0
        if previous is not None:
            known = previous.ends
            seen = memoryview(previous.text)
            longest = min(len(known), count)
            for j in (longest, longest - 1):
                if j > 0:
                    end = known[j - 1]
                    if end < len(text) and text[end] in _LIST_GAPS and text.startswith(seen[:end]):
                        matched = j
                        break
        if matched:
            assert previous is not None
            entries = previous.entries[:matched]
            ends = previous.ends[:matched]
            offset = ends[-1]
        else:
            entries, ends, offset = [], [], 0
        memo = self._messages
        last = count - 1
        for i in range(matched, count):
            # The last message's JSON is the list's JSON between the "," (or "[") after the messages before it and
            # the closing "]" (orjson writes a list as its items' JSON joined by ","): cut, not serialized again.
            message_key = text[offset + 1 : -1] if i == last else json(items[i])
            entry = memo.get(message_key)
            if entry is None:
                if i != last:  # a slice of ``text`` is a copy already
                    message_key = _own(message_key)
                entry = _Message(message_key)
                memo.put(message_key, entry)
            entries.append(entry)
            offset += 1 + len(message_key)  # "[" or "," before it
            ends.append(offset)
        session = _Session(_own(text), ends, entries)
        sessions.put(key, session)
        return entries, session, (previous if matched else None), matched

    def _shell_bytes(self, payload: dict[str, Any], key: str) -> bytes | None:
        """The payload's JSON with the conversation replaced by a placeholder (its place among the keys decides
        the rendered key order, so it stays). Equal to the previous shell, the previous bytes object is returned:
        its hash is cached, so the memo lookups that follow cost no rehash of tools and system."""
        try:
            raw = orjson.dumps({k: (0 if k == key else v) for k, v in payload.items()})
        except TypeError:
            return None
        last = self._last_shell
        if len(raw) == len(last) and raw == last:
            return last
        # Kept as the memo key of the shell and its detection scores.
        self._last_shell = raw = _own(raw)
        return raw

    def _detect(
        self, payload: dict[str, Any], found: _Conversation | None, shell: bytes | None, provider: str | None
    ) -> str:
        dialects = registered_dialects()
        known, names, decomposed = self._registry
        if dialects != known:
            names = tuple(d.name for d in dialects)
            decomposed = all(type(d).detect is Dialect.detect for d in dialects)
            self._registry = (dialects, names, decomposed)
            # Detection scores were summed over the previous registry.
            for memo in (self._messages, self._payload_scores, self._sessions):
                memo.clear()
            self._picked.clear()
            found = None
        if found is None or shell is None or not decomposed:
            from cachepoint.core.prompt.formats import detect_format

            return detect_format(payload, provider=provider)
        # detect_payload sees the top level only (key presence, tools, system), which the shell bytes capture.
        scores = self._payload_scores.get(shell)
        if scores is None:
            scores = tuple(d.detect_payload(payload) for d in dialects)
            self._payload_scores.put(shell, scores)
        # Message scores, summed over the first DETECT_MESSAGES messages; the running sums the earlier turn of
        # this conversation computed for the messages both share are taken over.
        entries, session, previous, matched = found
        sums = previous.detect_sums[: min(matched, DETECT_MESSAGES)] if previous is not None else []
        running = sums[-1] if sums else (0,) * len(dialects)
        raw_messages = payload["messages"]
        for i in range(len(sums), min(len(entries), DETECT_MESSAGES)):
            entry = entries[i]
            if entry.scores is None:
                raw = raw_messages[i]
                entry.scores = tuple([d.detect_message(raw) for d in dialects])
            running = tuple(map(operator.add, running, entry.scores))
            sums.append(running)
        if session is not None:
            session.detect_sums = sums
        model = payload.get("model")  # evidence too, as in detect_format
        evidence = model if isinstance(model, str) else None
        totals = tuple(map(operator.add, scores, running))
        # pick_format depends on nothing else (the registry aside, whose change clears this): a trace repeats a
        # handful of score tuples, so its verdicts are remembered.
        picked = self._picked
        key = (totals, provider, evidence)
        fmt = picked.get(key)
        if fmt is None:
            fmt = pick_format(dict(zip(names, totals, strict=True)), provider, model=evidence)
            if len(picked) >= _MAX_PICKED:
                picked.clear()
            picked[key] = fmt
        return fmt

    def _locate(
        self, payload: dict[str, Any], fmt: str | None, provider: str | None
    ) -> tuple[Dialect, list[Any], _Conversation, bytes] | None:
        """The payload's dialect, its message list with what `_conversation` found, and its shell bytes."""
        items = payload.get("messages")
        found = None
        shell_bytes: bytes | None = None
        if type(items) is list:
            found = self._conversation(items)
            shell_bytes = self._shell_bytes(payload, "messages")
            if found is None or shell_bytes is None:
                return None
        if fmt is None:
            fmt = self._detect(payload, found, shell_bytes, provider)
        dialect = get_format(fmt)
        key = dialect.messages_key
        if key != "messages":
            items = payload.get(key) if key else None
            if type(items) is not list:
                return None
            found = self._conversation(items)
            shell_bytes = self._shell_bytes(payload, key)
        if found is None or shell_bytes is None or type(items) is not list:
            return None
        return dialect, items, found, shell_bytes

    def _parse(self, payload: Mapping[str, Any], fmt: str | None, provider: str | None) -> _Parsed | None:
        if type(payload) is not dict:
            return None
        located = self._locate(payload, fmt, provider)
        if located is None:
            return None
        dialect, items, conversation, shell_bytes = located
        entries, session, previous, matched = conversation
        key = dialect.messages_key
        shell = self._shell(dialect, payload, key, shell_bytes)
        name = dialect.name
        start = matched if previous is not None and previous.format == name else 0
        messages = list(previous.messages[:start]) if previous is not None and start else []
        for i in range(start, len(entries)):
            entry = entries[i]
            message = entry.parsed.get(name)
            if message is None:
                message = dialect.parse_message(items[i], f"{key}[{i}]", lenient=self.lenient)
                entry.parsed[name] = message
            messages.append(message)
        request = with_messages(shell.request, tuple(messages))
        if session is not None:
            session.format, session.messages = name, request.messages
        parsed = _Parsed(request, shell, conversation)
        with self._lock:
            recent = self._recent
            if len(recent) >= 8:
                del recent[next(iter(recent))]
            recent[id(request)] = parsed
        return parsed

    def _shell(self, dialect: Dialect, payload: dict[str, Any], key: str, raw: bytes) -> _Shell:
        memo = self._shells
        group = memo.get(raw)
        if group is None:
            group = {}
            memo.put(raw, group)
        shell = group.get(dialect.name)
        if shell is None:
            self._stats.shell_misses += 1
            request = dialect.parse({k: ([] if k == key else v) for k, v in payload.items()}, lenient=self.lenient)
            shell = group[dialect.name] = _Shell(request, len(raw))
        return shell

    # --- positions ---

    def _context(self, shell: _Shell, info: ModelInfo | None) -> tuple[int, int]:
        last = shell.last
        if last is not None and last[0] is info:
            # The same rules object as the previous request of this shell (the provider table hands out one per
            # model): no need to hash its fields again.
            return last[1]
        found = shell.contexts.get(info)
        if found is None:
            preamble = _tools_preamble(shell.request, info)
            ctx = (shell.request.format, info, _own(dumps(shell.salt)), preamble)
            ctx_id = self._contexts.get(ctx)
            if ctx_id is None:
                # setdefault: two threads meeting a new context at once agree on one id; ids are never reused.
                ctx_id = self._contexts.setdefault(ctx, next(self._context_ids))
            found = shell.contexts[info] = (ctx_id, preamble)
        shell.last = (info, found)
        return found

    def _walk(self, request: Request, shell: _Shell, info: ModelInfo | None, preamble: int) -> Walk:
        blocks = self._blocks
        fmt = request.format
        stats = self._stats

        def memo(element: bytes) -> tuple[bytes, int] | None:
            found = blocks.get((fmt, element))
            if found is not None:
                stats.block_hits += 1
            return found

        def remember(element: bytes, value: tuple[bytes, int]) -> None:
            stats.block_misses += 1
            blocks.put((fmt, _own(element)), value)

        # An EstimateCounter (exactly that class: a subclass may count otherwise) counts the same without its memo;
        # any other counter is asked as given.
        counter = _ESTIMATES if type(self.counter) is EstimateCounter else self.counter
        return Walk(request, info, counter, preamble=preamble, salt=shell.salt, memo=memo, remember=remember)

    def _view(self, parsed: _Parsed, info: ModelInfo | None) -> PrefixView:
        stats = self._stats
        stats.requests += 1
        request, shell, entries = parsed.request, parsed.shell, parsed.messages
        ctx_id, preamble = self._context(shell, info)
        walk: Walk | None = None
        head = shell.heads.get(ctx_id)
        if head is None:
            # The head is walked on the shell request: its tools and system are the same objects.
            walk = self._walk(request, shell, info, preamble)
            head_positions = walk.tools() + walk.system()
            head = shell.heads[ctx_id] = _Chunk(head_positions, walk.marked, walk.state)
        # The previous turn of this conversation, if its view was built with the same shell and rules: the
        # positions of the messages both share come in one slice.
        before = parsed.previous.view if parsed.previous is not None else None
        start = parsed.matched if before is not None and before.shell is shell and before.ctx_id == ctx_id else 0
        if start:
            assert before is not None
            positions = before.positions[: before.position_ends[start - 1]]
            marked = before.marked[: before.marked_ends[start - 1]]
            position_ends = before.position_ends[:start]
            marked_ends = before.marked_ends[:start]
            states = before.states[:start]
            state = states[-1]
            stats.message_hits += start
        else:
            positions = list(head.positions)
            marked = list(head.marked)
            position_ends, marked_ends, states = [], [], []
            state = head.state
        chain = self._chain
        for m in range(start, len(entries)):
            key = (state, ctx_id, m, entries[m].key)
            chunk = chain.get(key)
            if chunk is None:
                stats.message_misses += 1
                if walk is None:
                    walk = self._walk(request, shell, info, preamble)
                walk.state = state
                walk.marked = []
                chunk = _Chunk(walk.message(m), walk.marked, walk.state)
                chain.put(key, chunk)
            else:
                stats.message_hits += 1
            positions += chunk.positions
            if chunk.marked:
                marked += chunk.marked
            state = chunk.state
            position_ends.append(len(positions))
            marked_ends.append(len(marked))
            states.append(state)
        if parsed.session is not None:
            parsed.session.view = _SessionView(
                shell=shell,
                ctx_id=ctx_id,
                positions=positions,
                position_ends=position_ends,
                marked=marked,
                marked_ends=marked_ends,
                states=states,
            )
        breakpoints = marked + implied_breakpoints(request, positions, info)
        return PrefixView(request, positions, breakpoints, info, self.counter)
