"""Canonical cache keys: a SHA-256 fingerprint of what the model will see, scoped by namespace, tenant and version.

Two requests get the same fingerprint exactly when a provider would treat them as the same request:

- **Provider cache markers are stripped** — Anthropic ``cache_control`` (on blocks, tools and top level), Bedrock
  ``{"cachePoint": ...}`` blocks (in ``system``, ``messages[].content`` and ``toolConfig.tools``), OpenAI
  ``prompt_cache_breakpoint`` on parts and ``prompt_cache_key`` / ``prompt_cache_options`` /
  ``prompt_cache_retention`` at top level. Moving a breakpoint changes what the provider *caches*, not what it
  *answers*.
- **Message ids and per-call metadata are stripped** — the ``id`` of a chat message whose content is inline (a
  message with a ``role``, OpenAI Responses ``type: "message"`` items, LangChain messages in any of their forms),
  ``response_metadata`` and ``usage_metadata``: they differ on every run of the same conversation. Every other id
  is kept, because it is what the model reads: an OpenAI ``item_reference`` or ``reasoning`` item is resolved by
  its id, ``previous_response_id`` and ``conversation`` bring back a stored conversation, tool call ids
  (``tool_use.id``, ``tool_call_id``, ``call_id``, ``toolUseId``) pair calls with results, and a LangChain
  ``RemoveMessage`` names the message it removes.
- **Only output-affecting parameters count.** Parameters known not to change the answer (`NON_OUTPUT_PARAMS`:
  ``stream``, ``timeout``, ``metadata``, ``user``, API keys, callbacks, a LangChain ``config``, headers other
  than betas and API versions...) are dropped; *every other* parameter is kept (google-genai's ``config`` holds
  the temperature and the system instruction: it is kept). That is deliberate: an unknown parameter might change
  the answer, and keeping it costs at worst a miss, while dropping one that matters would replay a wrong answer.
- **Canonical JSON**: sorted keys, integral floats in top-level parameters written as integers (``temperature=0``
  and ``0.0`` are one request), tuples as lists, bytes as their SHA-256 (an image is not copied into the key),
  pydantic models by ``model_dump(mode="json")``, pydantic classes (``response_format=MyModel``) by their JSON
  schema, sets sorted, NaN and infinities as ``{"$float": "nan"}``... (never as ``null``, which is ``None``).
  Anything else is a `FingerprintError` naming the path.

The store key is ``"<namespace>:<tenant>:<version>:<64 hex>"``, e.g. ``"chat:t.acme:v1:9f86d0..."`` (``shared``
when there is no tenant). It never holds the payload, so it stays short however long the conversation (the
huge-key failure of payload-in-key caches). Namespaces are validated (no ``:``), tenants and versions are
percent-escaped (and long tenants hashed), so no choice of tenant or namespace can produce another's key.

>>> req = {"model": "m", "messages": [{"role": "user", "content": "hi", "id": "run-1"}], "stream": True}
>>> same = {"messages": [{"content": "hi", "role": "user", "id": "run-2"}], "model": "m"}
>>> cache_key(req, namespace="chat") == cache_key(same, namespace="chat")
True
>>> cache_key(req, namespace="chat", tenant="acme").startswith("chat:t.acme:v1:")
True
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

__all__ = [
    "BEHAVIOUR_HEADERS",
    "CACHE_MARKER_PARAMS",
    "NON_OUTPUT_PARAMS",
    "FingerprintError",
    "cache_key",
    "canonical_json",
    "canonical_request",
    "check_namespace",
    "configuration_fields",
    "fingerprint",
    "fingerprint_value",
    "key_prefix",
    "scoped_key",
]

NON_OUTPUT_PARAMS: frozenset[str] = frozenset(
    {
        # transport and client plumbing (`stream_options` stays: include_usage adds a chunk to what is replayed)
        "stream",
        "timeout",
        "request_timeout",
        "max_retries",
        "api_key",
        "api_base",
        "base_url",
        "organization",
        "http_client",
        "idempotency_key",
        # bookkeeping that never reaches the model's input
        "metadata",
        "user",
        "safety_identifier",
        "store",
        "service_tier",
        "diagnostics",
        # framework plumbing (LangChain RunnableConfig and friends)
        "callbacks",
        "tags",
        "run_name",
        "run_id",
        "parent_run_id",
        "run_manager",
    }
)
"""Top-level request parameters that never change the answer, so never change the key.

``headers`` and ``extra_headers`` count only for the headers that switch API behaviour (`BEHAVIOUR_HEADERS`):
the rest (tracing, auth) never reaches the model. ``background`` stays (a background call answers with a queued
response, not the answer), as does ``extra_query`` (it may select an API version).
``config`` is judged by its content: a LangChain ``RunnableConfig`` (callbacks, tags, run name...) is left out,
while google-genai's ``config`` (temperature, system instruction, tools, response schema...) is part of the
request and of the key."""

# LangChain's RunnableConfig: plumbing around a call. `_LANGCHAIN_ONLY` never appear in a provider's config.
_RUNNABLE_CONFIG_KEYS = frozenset(
    {"tags", "metadata", "callbacks", "run_name", "max_concurrency", "recursion_limit", "configurable", "run_id"}
)
_LANGCHAIN_ONLY = frozenset({"callbacks", "run_name", "max_concurrency", "recursion_limit", "configurable", "run_id"})

BEHAVIOUR_HEADERS: frozenset[str] = frozenset({"anthropic-beta", "anthropic-version", "openai-beta"})
"""Request headers (lower case) that change what the provider does: betas and API versions."""
_HEADER_PARAMS = frozenset({"headers", "extra_headers"})

CACHE_MARKER_PARAMS: frozenset[str] = frozenset(
    {"cache_control", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"}
)
"""Top-level provider prompt-cache controls: they steer the provider's cache, not the answer."""

_BLOCK_MARKERS = frozenset({"cache_control", "prompt_cache_breakpoint"})
_MESSAGE_NOISE = frozenset({"response_metadata", "usage_metadata"}) | _BLOCK_MARKERS
_MESSAGE_LISTS = frozenset({"messages", "input"})
_LANGCHAIN_MESSAGE_TYPES = frozenset(
    {"human", "ai", "system", "tool", "function", "chat"}
    | {f"{name}MessageChunk" for name in ("Human", "AI", "System", "Tool", "Function", "Chat")}
)
_LANGCHAIN_MESSAGE_CLASSES = frozenset(
    f"{name}Message{suffix}"
    for name in ("Human", "AI", "System", "Tool", "Function", "Chat")
    for suffix in ("", "Chunk")
)
_BLOCK_LISTS = frozenset({"system"})
# Where sampling parameters sit besides the top level: providers' nested configs, and the SDKs' ``extra_body``
# (anthropic 1.0+ takes ``temperature`` only there).
_NUMBER_CONTAINERS = frozenset(
    {"inferenceConfig", "generationConfig", "generation_config", "options", "config", "extra_body"}
)

_NAMESPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}")
_MAX_TENANT_CHARS = 64
_SHARED = "shared"


class FingerprintError(TypeError):
    """A request or argument that cannot be turned into a key; ``path`` says where.

    >>> try:
    ...     fingerprint({"model": "m", "messages": [{"role": "user", "content": object()}]})
    ... except FingerprintError as exc:
    ...     print(exc.path)
    request['messages'][0]['content']
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------------------------------------------------------
# Canonical form


# The strippers copy on write: a list or dict is rebuilt only when something in it is removed, since keying runs
# on every cached call and most requests carry no markers. `type(x) is dict` short-circuits the (slow) ABC check.
_DROP: Any = object()


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _rebuild(items: Any, stripped: Callable[[Any], Any]) -> Any:
    """``items`` with ``stripped`` applied to each (``_DROP`` removes one); the same list if nothing changed."""
    out: list[Any] | None = None
    for index, item in enumerate(items):
        new = stripped(item)
        if new is not item and out is None:
            out = list(items[:index])
        if out is not None and new is not _DROP:
            out.append(new)
    return items if out is None else out


def _strip_block(block: Any) -> Any:
    if not _is_mapping(block):
        return block
    if "cachePoint" in block and len(block) == 1:
        return _DROP  # a Bedrock cache point is a block of its own
    if not _BLOCK_MARKERS.isdisjoint(block):
        block = {k: v for k, v in block.items() if k not in _BLOCK_MARKERS}
    content = block.get("content")
    if type(content) is list:  # tool_result blocks nest content blocks
        stripped = _rebuild(content, _strip_block)
        if stripped is not content:
            block = {**block, "content": stripped}
    return block


def _strip_blocks(blocks: Any) -> Any:
    if type(blocks) is not list:
        return blocks
    for block in blocks:  # fast scan: most block lists carry no marker at all
        if type(block) is not dict or not _BLOCK_MARKERS.isdisjoint(block) or "cachePoint" in block:
            break
        if type(block.get("content")) is list:
            break
    else:
        return blocks
    return _rebuild(blocks, _strip_block)


def _has_label_id(message: Mapping[str, Any], langchain: bool = False) -> bool:
    """Whether ``message`` carries an ``id`` that only labels it: a chat message whose content is inline.

    That holds for a message with a ``role`` (OpenAI Responses ``type: "message"`` items, output messages passed
    back included) and for LangChain's messages (``type: "human"``..., or ``langchain``: the payload of LangChain's
    serialized forms; LangChain's own cache drops these ids). Every other id is kept, because it is what the model
    reads: an ``item_reference`` (``type`` optional) or a ``reasoning`` item is resolved by its id, an
    ``mcp_approval_request`` id is answered by an ``approval_request_id``, a LangChain ``RemoveMessage`` names the
    message it removes, and a list ``id`` is the class path of LangChain's serialized form."""
    if "id" not in message or "content" not in message:
        return False
    run_id = message["id"]
    if not (run_id is None or type(run_id) is str or type(run_id) is int):
        return False
    kind = message.get("type")
    if "role" in message and (kind is None or kind == "message"):
        return True
    return kind in _LANGCHAIN_MESSAGE_TYPES or (langchain and kind is None)


def _langchain_payload(message: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The message inside LangChain's ``messages_to_dict`` (``{"type": "ai", "data": {...}}``) or ``dumpd``
    (``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {...}}``) form, with its field name."""
    data = message.get("data")
    if data is not None and message.get("type") in _LANGCHAIN_MESSAGE_TYPES and _is_mapping(data):
        return "data", data
    kwargs = message.get("kwargs")
    path = message.get("id")
    if kwargs is not None and type(path) is list and path and path[-1] in _LANGCHAIN_MESSAGE_CLASSES:
        return ("kwargs", kwargs) if _is_mapping(kwargs) else None
    return None


def _strip_message_dict(message: Mapping[str, Any], langchain: bool = False) -> Mapping[str, Any]:
    content = message.get("content")
    new_content = _strip_blocks(content) if type(content) is list else content
    label_id = "id" in message and _has_label_id(message, langchain)
    nested = _langchain_payload(message) if "data" in message or "kwargs" in message else None
    # the usual shape, {"role", "content", ...}, mostly has nothing to strip
    if nested is None and new_content is content and not label_id and _MESSAGE_NOISE.isdisjoint(message):
        return message
    out = {k: v for k, v in message.items() if k not in _MESSAGE_NOISE and not (label_id and k == "id")}
    if "content" in out:
        out["content"] = new_content
    if nested is not None:
        out[nested[0]] = _strip_message_dict(nested[1], langchain=True)
    return out


def _strip_message(message: Any) -> Any:
    if not _is_mapping(message):
        dump = getattr(message, "model_dump", None)
        if not callable(dump) or isinstance(message, type):
            return message
        message = dump()  # a LangChain BaseMessage or a provider SDK param model
    return _strip_message_dict(message)


def _strip_messages(messages: Any) -> Any:
    if type(messages) is tuple:
        messages = list(messages)
    return _rebuild(messages, _strip_message) if type(messages) is list else messages


def _strip_tool(tool: Any) -> Any:
    if not _is_mapping(tool):
        return tool
    if "cachePoint" in tool and len(tool) == 1:
        return _DROP
    if "cache_control" in tool:
        return {k: v for k, v in tool.items() if k != "cache_control"}
    return tool


def _strip_tools(tools: Any) -> Any:
    return _rebuild(tools, _strip_tool) if type(tools) is list else tools


def _is_runnable_config(config: Any) -> bool:
    """Whether a top-level ``config`` is LangChain's RunnableConfig, or none at all (left out of keys), rather than a
    provider's."""
    if config is None:
        return True
    if not isinstance(config, Mapping):
        return False
    names = config.keys()
    return _RUNNABLE_CONFIG_KEYS.issuperset(names) or not _LANGCHAIN_ONLY.isdisjoint(names)


def _behaviour_headers(value: Any, name: str) -> Any:
    """The `BEHAVIOUR_HEADERS` among request headers, names lower-cased (HTTP names are case-insensitive), or
    ``_DROP`` when there are none; values that are not strings are the SDKs' "omit this header" sentinels."""
    if value is None:
        return _DROP
    if _is_mapping(value):
        pairs = value.items()
    elif isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        pairs = value
    else:
        raise FingerprintError(f"request[{name!r}]", f"expected a mapping of header names, got {type(value).__name__}")
    kept = {
        k.lower(): v for k, v in pairs if isinstance(k, str) and k.lower() in BEHAVIOUR_HEADERS and isinstance(v, str)
    }
    return kept or _DROP


def _norm_number(value: Any) -> Any:
    # temperature=0 and temperature=0.0 are the same request.
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _norm_numbers(value: Any) -> Any:
    return {k: _norm_number(v) for k, v in value.items()} if isinstance(value, Mapping) else _norm_number(value)


def _strip_tool_config(value: Any) -> Any:
    if isinstance(value, Mapping) and "tools" in value:
        return {**value, "tools": _strip_tools(value["tools"])}
    return value


# How each top-level parameter is put in canonical form (`_norm_number` for the rest); `_DROP` leaves it out.
_PARAM_FORMS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_MESSAGE_LISTS, _strip_messages),
    **dict.fromkeys(_BLOCK_LISTS, _strip_blocks),
    **dict.fromkeys(_NUMBER_CONTAINERS, _norm_numbers),
    **{name: functools.partial(_behaviour_headers, name=name) for name in _HEADER_PARAMS},
    "tools": _strip_tools,
    "toolConfig": _strip_tool_config,
}


def canonical_request(request: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The part of ``request`` that decides the answer, as the fingerprint sees it (for "why did this miss?").

    ``ignore`` names more top-level parameters to leave out (your own non-output ones).

    >>> canonical_request({"model": "m", "temperature": 0.0, "timeout": 30, "prompt_cache_key": "u1"})
    {'model': 'm', 'temperature': 0}
    """
    if not isinstance(request, Mapping):
        raise FingerprintError("request", f"expected a mapping of request parameters, got {type(request).__name__}")
    skip = NON_OUTPUT_PARAMS | CACHE_MARKER_PARAMS
    if ignore:
        skip = skip | frozenset(ignore)
    out: dict[str, Any] = {}
    for key, raw in request.items():
        if not isinstance(key, str):
            raise FingerprintError("request", f"parameter name {key!r} is a {type(key).__name__}, expected str")
        if key in skip or (key == "config" and _is_runnable_config(raw)):
            continue
        value = _PARAM_FORMS.get(key, _norm_number)(raw)
        if value is _DROP:
            continue
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# Canonical JSON


def _default(obj: Any) -> Any:
    """orjson fallback for the few non-JSON types requests carry."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        # Hash, not copy: an image's bytes must not bloat the canonical text (the key itself is a hash anyway).
        return {"$bytes.sha256": hashlib.sha256(obj).hexdigest()}
    if isinstance(obj, type):
        schema = getattr(obj, "model_json_schema", None)
        if callable(schema):  # a pydantic class passed as response_format
            return {"$schema": schema()}
        raise TypeError(f"class {obj.__qualname__!r} (only pydantic model classes are keyed, by their schema)")
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=canonical_json)
    raise TypeError(f"unsupported type {type(obj).__name__!r}")


_PLAIN = frozenset({str, int, bool, type(None), bytes, bytearray, memoryview})


def _tag_non_finite(value: Any) -> Any:
    """``value`` with each NaN or infinity replaced by a ``{"$float": ...}`` tag (orjson would write ``null``, the
    same as ``None``); the same object where there is none. It walks what orjson walks: containers, dataclasses,
    and what `_default` turns other objects into."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float or isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(float(value))}
    tagged: Any
    if kind is dict or isinstance(value, Mapping):
        tagged = {k: _tag_non_finite(v) for k, v in value.items()}
        changed = any(tagged[k] is not v for k, v in value.items())
    elif kind is list or isinstance(value, (list, tuple)):
        tagged = [_tag_non_finite(v) for v in value]
        changed = any(t is not v for t, v in zip(tagged, value, strict=True))
    else:
        plain = _plain_form(value)
        tagged = value if plain is value else _tag_non_finite(plain)
        changed = tagged is not plain
    return tagged if changed else value


def _has_non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinity anywhere (the check runs whenever canonical JSON holds a
    ``null``, as most LangChain messages do: it builds nothing and stops at the first one)."""
    stack = [value]
    pop, push, extend, plain_types, isfinite = stack.pop, stack.append, stack.extend, _PLAIN, math.isfinite
    while stack:
        item = pop()
        kind = type(item)
        if kind in plain_types:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif kind is float or isinstance(item, float):
            if not isfinite(item):
                return True
        elif isinstance(item, Mapping):
            extend(item.values())
        elif isinstance(item, (list, tuple)):
            extend(item)
        else:
            plain = _plain_form(item)
            if plain is not item:
                push(plain)
    return False


def _plain_form(value: Any) -> Any:
    """What orjson writes for an object: a dataclass's fields, `_default`'s answer, else the object itself (a
    datetime, a UUID, an enum...)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    try:
        return _default(value)
    except TypeError:
        return value


_OPTIONS = orjson.OPT_SORT_KEYS
_MAX_DEPTH = 255  # orjson refuses deeper nesting anyway


def _locate(value: Any, path: str, depth: int = 0) -> FingerprintError:
    """Find where canonical JSON fails (the fast path only says *that* it failed) and say it precisely."""
    if depth > _MAX_DEPTH:
        return FingerprintError(path, "nested too deeply (or refers to itself)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return FingerprintError(path, f"dict key {key!r} is a {type(key).__name__}, expected str")
            try:
                orjson.dumps(item, default=_default, option=_OPTIONS)
            except (TypeError, orjson.JSONEncodeError):
                return _locate(item, f"{path}[{key!r}]", depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            try:
                orjson.dumps(item, default=_default, option=_OPTIONS)
            except (TypeError, orjson.JSONEncodeError):
                return _locate(item, f"{path}[{index}]", depth + 1)
    try:
        orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        problem = str(exc.__cause__ or exc)
        if "recursion" in problem.lower():
            problem = "nested too deeply (or refers to itself)"
        return FingerprintError(path, problem)
    return FingerprintError(path, "cannot be written as canonical JSON")


def canonical_json(value: Any, *, path: str = "value") -> bytes:
    """Canonical JSON bytes of ``value`` (sorted keys; see the module docstring for non-JSON types).

    >>> canonical_json({"b": 1, "a": (1, 2)})
    b'{"a":[1,2],"b":1}'
    >>> canonical_json([float("nan"), None])
    b'[{"$float":"nan"},null]'
    """
    try:
        text = orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        raise _locate(value, path) from None
    if b"null" in text and _has_non_finite(value):  # orjson writes NaN and infinities as null, like None
        text = orjson.dumps(_tag_non_finite(value), default=_default, option=_OPTIONS)
    return text


def fingerprint(request: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> str:
    """SHA-256 (hex) of the canonical form of an LLM request; see the module docstring for what is stripped.

    >>> a = fingerprint({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0})
    >>> b = fingerprint({"temperature": 0.0, "model": "m", "messages": [{"content": "hi", "role": "user"}]})
    >>> a == b, len(a)
    (True, 64)
    """
    canonical = canonical_request(request, ignore=ignore)
    return hashlib.sha256(canonical_json(canonical, path="request")).hexdigest()


def fingerprint_value(value: Any, *, path: str = "value") -> str:
    """SHA-256 (hex) of the canonical JSON of any keyable value (function arguments, tool inputs).

    >>> fingerprint_value({"q": "x", "k": 3}) == fingerprint_value({"k": 3, "q": "x"})
    True
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return hashlib.sha256(canonical_json(value, path=path)).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Scoping


# Fields of a client or model object that say who calls and through which connection, never what it answers
# (besides `NON_OUTPUT_PARAMS`' own: ``api_key``, ``http_client``...).
_CREDENTIAL_FIELDS = frozenset(
    {
        "credentials",
        "credentials_profile_name",
        "access_token",
        "anthropic_api_key",
        "bedrock_api_key",
        "openai_api_key",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "client_cert_source",
        "client",
        "async_client",
        "http_async_client",
    }
)


def configuration_fields(model: Any, *, ignore: Iterable[str] = ()) -> str:
    """The fields of a pydantic model object (a chat model LangChain cannot serialize, an SDK config...) as text for
    a cache key: every field but ``ignore``, `NON_OUTPUT_PARAMS`, credentials and clients, and values whose repr
    names the object rather than what it holds (``<... object at 0x...>``: a new one each time the model is built,
    which would make every rebuilt model a key of its own). Values are keyed by their repr, sorted by name.

    >>> from pydantic import BaseModel
    >>> class Model(BaseModel):
    ...     model: str = "m"
    ...     stop: list[str] = []
    ...     api_key: str = "sk-1"
    >>> print(configuration_fields(Model(stop=["END"])))
    [('model', "'m'"), ('stop', "['END']")]
    >>> configuration_fields(Model(api_key="sk-2")) == configuration_fields(Model())
    True
    """
    skip = _CREDENTIAL_FIELDS | NON_OUTPUT_PARAMS | frozenset(ignore)
    fields = sorted(
        (name, text) for name, value in model if name not in skip and " object at 0x" not in (text := repr(value))
    )
    return str(fields)


def check_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is valid, else raise ``ValueError`` saying what is allowed.

    Letters, digits and ``. _ - /``, starting with a letter or digit, at most 64 characters. No ``:`` — it
    separates key segments, and ``store.clear(namespace)`` relies on it.

    >>> check_namespace("chat-prod")
    'chat-prod'
    """
    if not isinstance(namespace, str):
        raise TypeError(f"namespace: expected str, got {type(namespace).__name__}")
    if not _NAMESPACE_RE.fullmatch(namespace):
        raise ValueError(
            f"namespace: {namespace!r} is not a valid namespace: use 1-64 of letters, digits and '._-/', "
            "starting with a letter or digit (':' separates key segments)"
        )
    return namespace


def _tenant_segment(tenant: str | None) -> str:
    if tenant is None:
        return _SHARED
    if not isinstance(tenant, str):
        raise TypeError(f"tenant: expected str or None, got {type(tenant).__name__}")
    if not tenant:
        raise ValueError("tenant: empty string; pass None for entries shared by every caller")
    # quote() escapes '%' too, so the escaping is injective: no two tenants share a segment, and no
    # escaped tenant contains ':'. Long tenants are hashed to keep keys short ("h." never equals "t.").
    quoted = quote(tenant, safe="")
    if len(quoted) > _MAX_TENANT_CHARS:
        return "h." + hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]
    return "t." + quoted


def _version_segment(version: int | str) -> str:
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise TypeError(f"version: expected int or str, got {type(version).__name__}")
    if isinstance(version, str) and not version:
        raise ValueError("version: empty string")
    return "v" + quote(str(version), safe="")


@functools.lru_cache(maxsize=4096)
def _prefix(namespace: str, tenant: str | None, version: int | str) -> str:
    return f"{check_namespace(namespace)}:{_tenant_segment(tenant)}:{_version_segment(version)}:"


def key_prefix(*, namespace: str, tenant: str | None = None, version: int | str = 1) -> str:
    """The ``"<namespace>:<tenant>:<version>:"`` prefix every key of that scope starts with.

    >>> key_prefix(namespace="chat", tenant="a:b")
    'chat:t.a%3Ab:v1:'
    """
    # Types first: the memo must never map True to the entry of 1 (they hash and compare equal).
    if (
        type(namespace) is not str
        or (tenant is not None and type(tenant) is not str)
        or type(version) not in (int, str)
    ):
        return f"{check_namespace(namespace)}:{_tenant_segment(tenant)}:{_version_segment(version)}:"
    return _prefix(namespace, tenant, version)


def scoped_key(digest: str, *, namespace: str, tenant: str | None = None, version: int | str = 1) -> str:
    """Store key for a fingerprint ``digest`` in a namespace/tenant/version scope.

    >>> scoped_key("ab" * 32, namespace="chat")[:16]
    'chat:shared:v1:a'
    """
    return key_prefix(namespace=namespace, tenant=tenant, version=version) + digest


def cache_key(
    request: Mapping[str, Any],
    *,
    namespace: str,
    tenant: str | None = None,
    version: int | str = 1,
    ignore: Sequence[str] = (),
) -> str:
    """Scoped store key of an LLM request: `scoped_key` of its `fingerprint`.

    >>> k = cache_key({"model": "m", "messages": []}, namespace="chat", tenant="acme", version=2)
    >>> k.split(":")[:3], len(k)
    (['chat', 't.acme', 'v2'], 79)
    """
    return scoped_key(fingerprint(request, ignore=ignore), namespace=namespace, tenant=tenant, version=version)
