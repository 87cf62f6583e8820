"""Keys over every request shape cachepoint keys: Anthropic Messages, Bedrock Converse, OpenAI Chat and Responses,
LangChain message dicts.

Two properties, each checked against this file's own reading of the provider formats (not the implementation's):

- a request that differs from another in any field the model reads never shares its key — every leaf, every key
  name, every list element of the generated requests is such a field (ids included: an ``item_reference`` id, a
  tool call id, a ``previous_response_id``);
- a request that differs only in metadata (a chat message's own id, LangChain's run metadata, provider cache
  markers, transport parameters, key order) always shares it.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.keys import fingerprint

ident = st.text(alphabet="abcdef0123456789", min_size=1, max_size=6)
text = st.text(max_size=12)
number = st.floats(-100, 100) | st.sampled_from([math.nan, math.inf, -math.inf]) | st.integers(-5, 5)
scalar = st.none() | st.booleans() | number | text
small_dict = st.dictionaries(ident, scalar, max_size=2)


def prefixed(prefix: str) -> st.SearchStrategy[str]:
    return ident.map(lambda s: prefix + s)


def fixed(required: dict[str, Any], optional: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in required.items()},
        optional={k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in (optional or {}).items()},
    )


# --- Anthropic Messages -----------------------------------------------------------------------------------------
text_block = fixed({"type": "text", "text": text})
anthropic_block = st.one_of(
    text_block,
    fixed({"type": "image", "source": fixed({"type": "base64", "media_type": "image/png", "data": text})}),
    fixed({"type": "tool_use", "id": prefixed("toolu_"), "name": ident, "input": small_dict}),
    fixed(
        {"type": "tool_result", "tool_use_id": prefixed("toolu_"), "content": st.lists(text_block, max_size=2)},
        {"is_error": st.booleans()},
    ),
    fixed({"type": "thinking", "thinking": text, "signature": ident}),
)
anthropic = fixed(
    {
        "model": st.sampled_from(["claude-sonnet-5", "claude-haiku-4.5"]),
        "max_tokens": st.integers(1, 4096),
        "messages": st.lists(
            fixed(
                {
                    "role": st.sampled_from(["user", "assistant"]),
                    "content": text | st.lists(anthropic_block, min_size=1, max_size=3),
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    {
        "system": text | st.lists(text_block, min_size=1, max_size=2),
        "temperature": number,
        "top_k": st.integers(1, 50),
        "stop_sequences": st.lists(text, max_size=2),
        "tools": st.lists(fixed({"name": ident, "description": text, "input_schema": small_dict}), max_size=2),
        "tool_choice": fixed({"type": st.sampled_from(["auto", "any"])}),
        "thinking": fixed({"type": "enabled", "budget_tokens": st.integers(1024, 4096)}),
        "extra_headers": fixed({"anthropic-beta": st.sampled_from(["context-1m-2025-08-07", "other-beta"])}),
    },
)

# --- Bedrock Converse -------------------------------------------------------------------------------------------
bedrock_block = st.one_of(
    fixed({"text": text}),
    fixed({"toolUse": fixed({"toolUseId": prefixed("tooluse_"), "name": ident, "input": small_dict})}),
    fixed(
        {
            "toolResult": fixed(
                {"toolUseId": prefixed("tooluse_"), "content": st.lists(fixed({"text": text}), max_size=2)},
                {"status": st.sampled_from(["success", "error"])},
            )
        }
    ),
    fixed({"image": fixed({"format": "png", "source": fixed({"bytes": st.binary(max_size=8)})})}),
)
bedrock = fixed(
    {
        "modelId": st.sampled_from(["anthropic.claude-sonnet-5", "amazon.nova-pro-v1:0"]),
        "messages": st.lists(
            fixed(
                {
                    "role": st.sampled_from(["user", "assistant"]),
                    "content": st.lists(bedrock_block, min_size=1, max_size=3),
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    {
        "system": st.lists(fixed({"text": text}), min_size=1, max_size=2),
        "inferenceConfig": fixed({}, {"temperature": number, "maxTokens": st.integers(1, 99), "topP": number}),
        "toolConfig": fixed(
            {"tools": st.lists(fixed({"toolSpec": fixed({"name": ident, "inputSchema": {"json": {}}})}), max_size=2)}
        ),
        "additionalModelRequestFields": small_dict,
    },
)

# --- OpenAI Chat Completions ------------------------------------------------------------------------------------
tool_call = fixed({"id": prefixed("call_"), "type": "function", "function": fixed({"name": ident, "arguments": text})})
chat_message = st.one_of(
    fixed(
        {
            "role": st.sampled_from(["system", "developer", "user"]),
            "content": text | st.lists(text_block, min_size=1, max_size=2),
        },
        {"name": ident},
    ),
    fixed({"role": "assistant", "content": st.none() | text}, {"tool_calls": st.lists(tool_call, max_size=2)}),
    fixed({"role": "tool", "tool_call_id": prefixed("call_"), "content": text}),
)
chat = fixed(
    {"model": st.sampled_from(["gpt-5.6", "gpt-4o"]), "messages": st.lists(chat_message, min_size=1, max_size=3)},
    {
        "temperature": number,
        "seed": st.integers(0, 99),
        "top_p": number,
        "n": st.integers(1, 3),
        "stop": st.lists(text, max_size=2),
        "response_format": fixed({"type": st.sampled_from(["json_object", "text"])}),
        "tools": st.lists(fixed({"type": "function", "function": fixed({"name": ident})}), max_size=2),
        "logit_bias": st.dictionaries(st.integers(0, 9).map(str), st.integers(-5, 5), max_size=2),
        "reasoning_effort": st.sampled_from(["low", "high"]),
        "stream_options": fixed({"include_usage": st.booleans()}),
    },
)

# --- OpenAI Responses -------------------------------------------------------------------------------------------
input_part = fixed({"type": "input_text", "text": text})
responses_item = st.one_of(
    fixed(
        {"role": st.sampled_from(["user", "system", "developer"]), "content": text | st.lists(input_part, max_size=2)},
        {"type": "message"},
    ),
    fixed(
        {
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": st.lists(fixed({"type": "output_text", "text": text, "annotations": []}), max_size=2),
        },
        {"phase": st.sampled_from(["commentary", "final_answer"])},
    ),
    fixed({"type": "item_reference", "id": prefixed("msg_")}),
    fixed({"id": prefixed("msg_")}),  # an item_reference: its `type` is optional
    fixed(
        {
            "type": "reasoning",
            "id": prefixed("rs_"),
            "summary": st.lists(fixed({"type": "summary_text", "text": text})),
        },
        {"encrypted_content": text},
    ),
    fixed(
        {"type": "function_call", "call_id": prefixed("call_"), "name": ident, "arguments": text},
        {"id": prefixed("fc_")},
    ),
    fixed({"type": "function_call_output", "call_id": prefixed("call_"), "output": text}),
    fixed({"type": "mcp_approval_request", "id": prefixed("mcpr_"), "name": ident, "arguments": text}),
    fixed({"type": "mcp_approval_response", "approval_request_id": prefixed("mcpr_"), "approve": st.booleans()}),
)
responses = fixed(
    {
        "model": st.sampled_from(["gpt-5.6", "o4-mini"]),
        "input": text | st.lists(responses_item, min_size=1, max_size=4),
    },
    {
        "instructions": text,
        "previous_response_id": prefixed("resp_"),
        "conversation": prefixed("conv_"),
        "temperature": number,
        "reasoning": fixed({"effort": st.sampled_from(["low", "high"])}),
        "text": fixed({"format": fixed({"type": st.sampled_from(["text", "json_object"])})}),
        "include": st.lists(st.sampled_from(["reasoning.encrypted_content", "message.output_text.logprobs"])),
        "truncation": st.sampled_from(["auto", "disabled"]),
        "max_output_tokens": st.integers(1, 999),
        "background": st.booleans(),
        "parallel_tool_calls": st.booleans(),
    },
)

# --- LangChain messages (model_dump, messages_to_dict and dumpd forms) ------------------------------------------
LC_CLASSES = {"human": "HumanMessage", "ai": "AIMessage", "system": "SystemMessage", "tool": "ToolMessage"}
lc_content = text | st.lists(text_block, min_size=1, max_size=2)
lc_fields = st.one_of(
    fixed({"type": st.sampled_from(["human", "system"]), "content": lc_content}, {"name": st.none() | ident}),
    fixed(
        {"type": "ai", "content": lc_content},
        {
            "tool_calls": st.lists(
                fixed({"name": ident, "args": small_dict, "id": prefixed("call_"), "type": "tool_call"})
            )
        },
    ),
    fixed({"type": "tool", "content": lc_content, "tool_call_id": prefixed("call_")}, {"status": "success"}),
)
lc_message = st.one_of(
    lc_fields,
    lc_fields.map(lambda m: {"type": m["type"], "data": m}),
    lc_fields.map(
        lambda m: {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", LC_CLASSES[m["type"]]],
            "kwargs": m,
        }
    ),
    fixed({"type": "remove", "content": "", "id": prefixed("run-")}),  # RemoveMessage: its id names a message
)
langchain = fixed(
    {"model": st.just("claude-sonnet-5"), "messages": st.lists(lc_message, min_size=1, max_size=3)},
    {"temperature": number},
)

SHAPES = {"anthropic": anthropic, "bedrock": bedrock, "chat": chat, "responses": responses, "langchain": langchain}
shaped = st.sampled_from(sorted(SHAPES)).flatmap(lambda name: st.tuples(st.just(name), SHAPES[name]))

# --- metadata: what may differ between two runs of one conversation ---------------------------------------------
LC_TYPES = {"human", "ai", "system", "tool", "function", "chat"}
NOISE = {
    "stream": True,
    "timeout": 30,
    "metadata": {"user_id": "u-123"},
    "user": "someone",
    "api_key": "sk-secret",
    "extra_headers": {"x-trace": "abc", "X-Request-Id": "r-1"},
    "callbacks": ["handler"],
    "config": {"callbacks": [], "tags": ["t"], "run_name": "x"},
    "prompt_cache_key": "bucket-7",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    "cache_control": {"type": "ephemeral"},
    "max_retries": 5,
    "service_tier": "priority",
    "store": False,
}
CACHE_POINT = {"cachePoint": {"type": "default"}}


def is_chat_message(item: dict[str, Any]) -> bool:
    """A message whose content is inline, so its own id only labels it (this test's reading of the formats)."""
    if "content" not in item:
        return False
    if "role" in item:
        return item.get("type", "message") == "message"
    return item.get("type") in LC_TYPES


def label(message: dict[str, Any], rng: random.Random) -> None:
    message["id"] = rng.choice([f"run-{rng.random()}", f"msg_{rng.randint(0, 9**9)}", None])
    if rng.random() < 0.4:
        message["response_metadata"] = {"id": f"msg_{rng.random()}", "model_name": "x"}
    if rng.random() < 0.3:
        message["usage_metadata"] = {"input_tokens": rng.randint(1, 99), "output_tokens": 1, "total_tokens": 2}


def mark_blocks(blocks: list[Any], shape: str, rng: random.Random) -> None:
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if shape == "bedrock":
            continue  # Bedrock marks with blocks of their own (below)
        if rng.random() < 0.5:
            block["cache_control"] = {"type": "ephemeral", "ttl": rng.choice(["5m", "1h"])}
        elif shape in ("responses", "chat") and rng.random() < 0.5:
            block["prompt_cache_breakpoint"] = {"mode": "explicit"}
        if isinstance(block.get("content"), list):  # Anthropic tool_result blocks nest content blocks
            mark_blocks(block["content"], shape, rng)
    if shape == "bedrock" and rng.random() < 0.5:
        blocks.insert(rng.randint(0, len(blocks)), dict(CACHE_POINT))


def decorated(shape: str, request: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same request as another run would send it: other message ids and run metadata, cache markers placed
    elsewhere, other transport parameters, other key order."""
    out = copy.deepcopy(request)
    items = out.get("messages", out.get("input"))
    for item in items if isinstance(items, list) else []:
        if "data" in item or "kwargs" in item:  # LangChain's messages_to_dict / dumpd forms
            label(item.get("data", item.get("kwargs")), rng)
        elif is_chat_message(item):
            label(item, rng)
        if isinstance(item.get("content"), list):
            mark_blocks(item["content"], shape, rng)
    if isinstance(out.get("system"), list):
        mark_blocks(out["system"], shape, rng)
    if isinstance(out.get("tools"), list):
        for tool in out["tools"]:
            if rng.random() < 0.5:
                tool["cache_control"] = {"type": "ephemeral"}
    if isinstance(out.get("toolConfig"), dict) and rng.random() < 0.7:
        out["toolConfig"]["tools"].append(dict(CACHE_POINT))
    for name in rng.sample(sorted(NOISE), rng.randint(0, len(NOISE))):
        out.setdefault(name, copy.deepcopy(NOISE[name]))
    for name in ("temperature", "max_tokens"):
        value = out.get(name)
        if type(value) is int and rng.random() < 0.5:
            out[name] = float(value)  # 0 and 0.0 are one request
    return shuffled(out, rng)


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = [(k, shuffled(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


# --- output-affecting changes: anything at all in the generated request -----------------------------------------
Path = tuple[Any, ...]


def places(value: Any, path: Path = ()) -> Iterator[tuple[str, Path]]:
    """Every change a request can take: a leaf's value, a key's name or presence, a list element's presence."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield "rename", (*path, key)
            yield "remove", (*path, key)
            yield from places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield "remove", (*path, index)
            yield "duplicate", (*path, index)
            yield from places(item, (*path, index))
    else:
        yield "value", path


def other_floats(v: float) -> list[Any]:
    if math.isnan(v):
        return [None, math.inf, 0.5]
    return [-v, None, math.nan] if math.isinf(v) else [v + 1.5, math.nan, math.inf, None]


OTHER_VALUES: dict[type, Any] = {
    bool: lambda v: [not v],
    int: lambda v: [v + 1, math.nan, None],
    float: other_floats,
    str: lambda v: [v + "x", v + " ", v + "0"],
    bytes: lambda v: [v + b"\x00"],
    type(None): lambda v: ["x", math.nan, 0, -math.inf],
}


def other_value(value: Any, rng: random.Random) -> Any:
    """A value unequal to ``value`` in any reading: NaN, infinities and None never stand for one another."""
    return rng.choice(OTHER_VALUES[type(value)](value))


def changed(request: dict[str, Any], how: str, path: Path, rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(request)
    *parents, last = path
    holder: Any = out
    for step in parents:
        holder = holder[step]
    if how == "value":
        holder[last] = other_value(holder[last], rng)
    elif how == "remove":
        del holder[last]
    elif how == "duplicate":
        holder.insert(last, copy.deepcopy(holder[last]))
    else:  # rename: the same value under another name ("_" keeps it clear of every name keys.py strips)
        holder[f"{last}_"] = holder.pop(last)
    return out


@given(request=shaped, seed=st.integers(0, 2**32))
@settings(max_examples=250)
def test_requests_that_differ_only_in_metadata_share_a_key(request: tuple[str, dict[str, Any]], seed: int) -> None:
    shape, base = request
    again = decorated(shape, base, random.Random(seed))
    assert fingerprint(again) == fingerprint(base)


@given(request=shaped, seed=st.integers(0, 2**32))
@settings(max_examples=250)
def test_requests_that_differ_in_anything_the_model_reads_never_share_a_key(
    request: tuple[str, dict[str, Any]], seed: int
) -> None:
    _, base = request
    rng = random.Random(seed)
    key = fingerprint(base)
    for how, path in places(base):  # every change, not one: a collision hides in one leaf among many
        other = changed(base, how, path, rng)
        assert fingerprint(other) != key, (how, path, other)
