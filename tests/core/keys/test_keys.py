"""Keys: equal requests (as a provider sees them) share a key; anything that changes the answer or the scope
does not."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.keys import (
    NON_OUTPUT_PARAMS,
    FingerprintError,
    cache_key,
    canonical_request,
    check_namespace,
    fingerprint,
    fingerprint_value,
    key_prefix,
)

text = st.text(min_size=0, max_size=30)
blocks = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), min_size=1, max_size=3)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": text | blocks}),
    min_size=1,
    max_size=4,
)
AFFECTING = {
    "temperature": st.sampled_from([0, 0.2, 0.7, 1]),
    "top_p": st.sampled_from([0.1, 0.9]),
    "top_k": st.integers(1, 50),
    "max_tokens": st.integers(1, 4096),
    "stop": st.lists(text, max_size=2),
    "seed": st.integers(0, 2**31),
    "tool_choice": st.sampled_from(["auto", "none", "required"]),
    "response_format": st.just({"type": "json_object"}),
    "n": st.integers(1, 3),
    "reasoning": st.fixed_dictionaries({"effort": st.sampled_from(["low", "high"])}),
    "tools": st.lists(
        st.fixed_dictionaries({"name": st.sampled_from(["search", "calc"]), "input_schema": st.just({})}),
        max_size=2,
    ),
}
requests = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude-sonnet-5", "gpt-5.6", "llama"]),
        "messages": messages,
        "system": st.none() | text | blocks,
    },
    optional=AFFECTING,
)


@given(request=requests, name=st.sampled_from(sorted(AFFECTING)), data=st.data())
def test_changing_an_output_affecting_parameter_changes_the_key(
    request: dict[str, Any], name: str, data: st.DataObject
) -> None:
    value = data.draw(AFFECTING[name])
    changed = {**request, name: value}
    if request.get(name) != value:
        assert cache_key(changed, namespace="n") != cache_key(request, namespace="n")


@given(request=requests, model=st.sampled_from(["claude-haiku-4.5", "gpt-4o"]))
def test_a_different_model_never_shares_a_key(request: dict[str, Any], model: str) -> None:
    assert cache_key({**request, "model": model}, namespace="n") != cache_key(request, namespace="n")


tenants = st.none() | st.text(min_size=1, max_size=80)
namespaces = st.from_regex(r"[a-z0-9][a-z0-9_.\-/]{0,10}", fullmatch=True)


@given(
    a=st.tuples(namespaces, tenants, st.integers(0, 3) | st.text(min_size=1, max_size=5)),
    b=st.tuples(namespaces, tenants, st.integers(0, 3) | st.text(min_size=1, max_size=5)),
)
@settings(max_examples=500)
def test_different_scopes_never_share_a_key(a: tuple[str, str | None, Any], b: tuple[str, str | None, Any]) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "same question"}]}
    key_a = cache_key(request, namespace=a[0], tenant=a[1], version=a[2])
    key_b = cache_key(request, namespace=b[0], tenant=b[1], version=b[2])
    same_scope = a[0] == b[0] and a[1] == b[1] and str(a[2]) == str(b[2])
    assert (key_a == key_b) == same_scope
    # A namespace is always the first segment, so store.clear(namespace) finds exactly its own keys.
    assert key_a.split(":", 1)[0] == a[0]


def test_separator_characters_in_a_tenant_cannot_forge_another_scope() -> None:
    request = {"model": "m", "messages": []}
    forged = cache_key(request, namespace="chat", tenant="acme:v1")
    honest = cache_key(request, namespace="chat", tenant="acme")
    assert forged != honest
    assert forged.count(":") == 3
    assert key_prefix(namespace="chat", tenant="a%3Ab") != key_prefix(namespace="chat", tenant="a:b")
    assert key_prefix(namespace="chat", tenant="shared") != key_prefix(namespace="chat", tenant=None)


@pytest.mark.parametrize("bad", ["a:b", "", ":x", "has space", "-lead", "x" * 65, "tab\t"])
def test_invalid_namespaces_are_rejected_with_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^namespace: .* is not a valid namespace"):
        check_namespace(bad)


def test_empty_tenant_and_wrong_types_are_rejected() -> None:
    with pytest.raises(ValueError, match="tenant: empty string"):
        key_prefix(namespace="n", tenant="")
    with pytest.raises(TypeError, match="tenant: expected str or None, got int"):
        key_prefix(namespace="n", tenant=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="version: expected int or str, got bool"):
        key_prefix(namespace="n", version=True)


def test_keys_stay_short_however_long_the_request() -> None:
    huge = {"model": "m", "messages": [{"role": "user", "content": "x" * 2_000_000}], "image": b"\x89PNG" * 100_000}
    key = cache_key(huge, namespace="chat", tenant="a-very-long-tenant-name" * 20)
    # namespace + hashed tenant ("h." + 32 hex) + "v1" + 64 hex + 3 separators
    assert len(key) == len("chat") + 2 + 32 + 2 + 64 + 3


def test_canonical_request_drops_noise_and_normalizes_numbers() -> None:
    request = {
        "model": "m",
        "temperature": 0.0,
        "max_tokens": 100.0,
        "top_p": 0.5,
        "inferenceConfig": {"temperature": 1.0, "maxTokens": 10},
        "stream": True,
        "metadata": {"a": 1},
        "prompt_cache_key": "k",
    }
    assert canonical_request(request) == {
        "model": "m",
        "temperature": 0,
        "max_tokens": 100,
        "top_p": 0.5,
        "inferenceConfig": {"temperature": 1, "maxTokens": 10},
    }
    assert set(canonical_request(request, ignore=["top_p"])) == {
        "model",
        "temperature",
        "max_tokens",
        "inferenceConfig",
    }
    assert "stream" in NON_OUTPUT_PARAMS


def test_sampling_parameters_in_extra_body_are_one_request_whatever_their_number_type() -> None:
    # anthropic 1.0+ takes temperature only through extra_body: 0 and 0.0 there are the same request, as at the top.
    base = {"model": "claude-sonnet-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    assert fingerprint({**base, "extra_body": {"temperature": 0}}) == fingerprint(
        {**base, "extra_body": {"temperature": 0.0}}
    )
    assert fingerprint({**base, "extra_body": {"temperature": 0}}) != fingerprint(
        {**base, "extra_body": {"temperature": 0.5}}
    )
    assert fingerprint({**base, "extra_body": {"temperature": 0}}) != fingerprint(base)


def test_bedrock_cache_points_are_stripped_everywhere_they_may_appear() -> None:
    plain = {
        "modelId": "anthropic.claude",
        "system": [{"text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "t"}}], "toolChoice": {"auto": {}}},
    }
    marked = copy.deepcopy(plain)
    marked["system"].append({"cachePoint": {"type": "default"}})
    marked["messages"][0]["content"].append({"cachePoint": {"type": "default", "ttl": "1h"}})
    marked["toolConfig"]["tools"].append({"cachePoint": {"type": "default"}})
    assert fingerprint(marked) == fingerprint(plain)
    # ... but a block that merely *mentions* cachePoint among other fields is content, and stays.
    other = copy.deepcopy(plain)
    other["messages"][0]["content"].append({"cachePoint": {"type": "default"}, "text": "x"})
    assert fingerprint(other) != fingerprint(plain)


def test_nested_tool_result_blocks_lose_their_markers_too() -> None:
    def req(marker: bool) -> dict[str, Any]:
        inner: dict[str, Any] = {"type": "text", "text": "42"}
        if marker:
            inner["cache_control"] = {"type": "ephemeral"}
        return {
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [inner]}]}
            ],
        }

    assert fingerprint(req(True)) == fingerprint(req(False))


def test_ids_inside_content_are_part_of_the_conversation() -> None:
    def req(tool_id: str) -> dict[str, Any]:
        return {
            "model": "m",
            "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "f", "input": {}}]}
            ],
        }

    assert fingerprint(req("toolu_1")) != fingerprint(req("toolu_2"))


def test_langchain_message_forms_drop_their_run_ids_but_keep_their_class() -> None:
    def dumpd(cls: str, run_id: str) -> dict[str, Any]:
        return {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", cls],
            "kwargs": {"content": "hi", "type": "human", "id": run_id},
        }

    assert fingerprint({"model": "m", "messages": [dumpd("HumanMessage", "a")]}) == fingerprint(
        {"model": "m", "messages": [dumpd("HumanMessage", "b")]}
    )
    assert fingerprint({"model": "m", "messages": [dumpd("HumanMessage", "a")]}) != fingerprint(
        {"model": "m", "messages": [dumpd("AIMessage", "a")]}
    )
    as_dict = [{"type": "ai", "data": {"content": "x", "id": "run-1", "usage_metadata": {"input_tokens": 3}}}]
    as_dict2 = [{"type": "ai", "data": {"content": "x", "id": "run-2"}}]
    assert fingerprint({"model": "m", "messages": as_dict}) == fingerprint({"model": "m", "messages": as_dict2})


class Answer(pydantic.BaseModel):
    text: str
    confidence: float


class OtherAnswer(pydantic.BaseModel):
    text: str


class Message(pydantic.BaseModel):
    role: str
    content: str
    id: str | None = None


def test_pydantic_models_and_classes_are_keyed_by_their_data_and_schema() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    assert fingerprint({**base, "response_format": Answer}) == fingerprint({**base, "response_format": Answer})
    assert fingerprint({**base, "response_format": Answer}) != fingerprint({**base, "response_format": OtherAnswer})
    objects = {"model": "m", "messages": [Message(role="user", content="q", id="1")]}
    dicts = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    assert fingerprint(objects) == fingerprint(dicts)


def test_bytes_and_text_with_equal_contents_differ() -> None:
    assert fingerprint({"model": "m", "x": b"abc"}) != fingerprint({"model": "m", "x": "abc"})
    assert fingerprint({"model": "m", "x": b"abc"}) == fingerprint({"model": "m", "x": bytearray(b"abc")})


def test_unkeyable_values_are_errors_naming_the_path() -> None:
    with pytest.raises(FingerprintError) as info:
        fingerprint({"model": "m", "messages": [{"role": "user", "content": [{"type": "x", "data": object()}]}]})
    assert info.value.path == "request['messages'][0]['content'][0]['data']"
    assert "unsupported type 'object'" in str(info.value)
    with pytest.raises(FingerprintError, match=r"request\['tools'\]\[0\]: dict key 1 is a int"):
        fingerprint({"model": "m", "tools": [{1: "x"}]})
    with pytest.raises(FingerprintError, match="expected a mapping"):
        fingerprint(["not", "a", "mapping"])  # type: ignore[arg-type]
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(FingerprintError):
        fingerprint({"model": "m", "x": looped})


def test_fingerprint_value_of_arguments() -> None:
    @dataclasses.dataclass
    class Query:
        text: str
        k: int

    assert fingerprint_value(Query("a", 3)) == fingerprint_value({"k": 3, "text": "a"})
    assert fingerprint_value({"s": {3, 1, 2}}) == fingerprint_value({"s": [1, 2, 3]})
    assert fingerprint_value((1, 2)) == fingerprint_value([1, 2])
    assert fingerprint_value(1) != fingerprint_value("1")
    with pytest.raises(FingerprintError, match=r"^args\['conn'\]: unsupported type"):
        fingerprint_value({"conn": object()}, path="args")


class GenerateConfig(pydantic.BaseModel):
    """Shaped like google-genai's GenerateContentConfig."""

    temperature: float | None = None
    system_instruction: str | None = None


def test_a_provider_config_is_part_of_the_key_and_a_langchain_config_is_not() -> None:
    def gemini(config: Any) -> dict[str, Any]:
        contents = [{"role": "user", "parts": [{"text": "hi"}]}]
        return {"model": "gemini-2.5-flash", "contents": contents, "config": config}

    # google-genai: the config holds what changes the answer (system instruction, temperature, schema...).
    terse = fingerprint(gemini({"temperature": 0, "system_instruction": "Be terse."}))
    assert terse == fingerprint(gemini({"system_instruction": "Be terse.", "temperature": 0.0}))
    assert terse != fingerprint(gemini({"temperature": 0, "system_instruction": "Be verbose."}))
    assert terse != fingerprint(gemini({"temperature": 0.7, "system_instruction": "Be terse."}))
    as_model = fingerprint(gemini(GenerateConfig(temperature=0, system_instruction="Be terse.")))
    assert as_model != fingerprint(gemini(GenerateConfig(temperature=0, system_instruction="Be verbose.")))
    # LangChain's RunnableConfig is plumbing (callbacks are not even keyable): left out, whatever it holds.
    plain = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for config in (
        {"callbacks": [object()], "tags": ["a"], "run_name": "x"},
        {"tags": ["a"], "metadata": {"user": "u"}},
        {"configurable": {"thread_id": "1"}, "recursion_limit": 5},
        {},
        None,  # a `config=None` default
    ):
        assert fingerprint({**plain, "config": config}) == fingerprint(plain), config


def responses(*items: Any, **params: Any) -> dict[str, Any]:
    return {"model": "gpt-5.6", "temperature": 0, "input": list(items), **params}


def test_an_item_reference_is_keyed_by_the_item_it_points_at() -> None:
    # OpenAI Responses: the id of an item_reference (its `type` is optional) *is* the content the model reads.
    question = {"role": "user", "content": "and then?"}
    for ref in ({"type": "item_reference", "id": "msg_1"}, {"id": "msg_1"}):
        other = {**ref, "id": "msg_2"}
        assert fingerprint(responses(ref, question)) != fingerprint(responses(other, question))


@pytest.mark.parametrize(
    "item",
    [
        {"type": "reasoning", "id": "rs_1", "summary": []},  # resolved server-side by id when stored
        {"type": "mcp_approval_request", "id": "mcpr_1", "name": "f", "arguments": "{}", "server_label": "s"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "image_generation_call", "id": "ig_1", "result": None, "status": "completed"},
    ],
)
def test_ids_of_responses_items_other_than_messages_are_kept(item: dict[str, Any]) -> None:
    changed = {**item, "id": item["id"] + "0"}
    assert fingerprint(responses(item)) != fingerprint(responses(changed))


def test_the_id_of_a_message_with_its_content_inline_is_left_out() -> None:
    def said(msg_id: str) -> dict[str, Any]:
        content = [{"type": "output_text", "text": "Paris.", "annotations": []}]
        return {"type": "message", "id": msg_id, "role": "assistant", "status": "completed", "content": content}

    question = {"role": "user", "content": "And Italy?"}
    assert fingerprint(responses(said("msg_a"), question)) == fingerprint(responses(said("msg_b"), question))
    # ... but a LangChain RemoveMessage names the message it removes: its id is its meaning.
    remove = {"model": "m", "messages": [{"type": "remove", "content": "", "id": "run-1"}]}
    assert fingerprint(remove) != fingerprint({"model": "m", "messages": [{**remove["messages"][0], "id": "run-2"}]})


def test_previous_response_and_conversation_ids_are_part_of_the_request() -> None:
    question = {"role": "user", "content": "and then?"}
    base = fingerprint(responses(question, previous_response_id="resp_1"))
    assert base != fingerprint(responses(question, previous_response_id="resp_2"))
    assert base != fingerprint(responses(question))
    assert fingerprint(responses(question, conversation="conv_1")) != fingerprint(
        responses(question, conversation="c2")
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_neither_null_nor_each_other(value: float) -> None:
    others = {repr(v): v for v in (None, math.nan, math.inf, -math.inf, 0, "nan", "inf") if repr(v) != repr(value)}
    for name, other in others.items():
        assert fingerprint_value(value) != fingerprint_value(other), name
        assert fingerprint_value({"x": [value]}) != fingerprint_value({"x": [other]}), name
        request = {"model": "m", "messages": [], "temperature": value}
        assert fingerprint(request) != fingerprint({**request, "temperature": other}), name
    assert fingerprint_value(value) == fingerprint_value(float(repr(value)))  # every NaN is one NaN

    class Point(pydantic.BaseModel):
        x: float | None

    @dataclasses.dataclass
    class Pair:
        x: float | None

    assert fingerprint_value([Point(x=value)]) != fingerprint_value([Point(x=None)])
    assert fingerprint_value([Pair(value)]) != fingerprint_value([Pair(None)])


def test_parameters_that_change_what_comes_back_are_part_of_the_key() -> None:
    question = {"role": "user", "content": "q"}
    base = responses(question)
    # background=True answers with a queued response, not the answer; include_usage adds a chunk to a stream.
    assert fingerprint({**base, "background": True}) != fingerprint(base)
    assert fingerprint({**base, "stream_options": {"include_usage": True}}) != fingerprint(base)
    assert fingerprint({**base, "extra_query": {"api-version": "2025-01-01"}}) != fingerprint(base)
    # Beta and version headers switch API behaviour; every other header (tracing, auth) is left out.
    for headers in ("extra_headers", "headers"):
        beta = fingerprint({**base, headers: {"anthropic-beta": "context-1m-2025-08-07", "x-trace": "1"}})
        assert beta != fingerprint(base)
        assert beta == fingerprint({**base, headers: {"Anthropic-Beta": "context-1m-2025-08-07", "x-trace": "2"}})
        assert fingerprint({**base, headers: {"x-request-id": "abc"}}) == fingerprint(base)
        assert fingerprint({**base, headers: {"anthropic-version": "2023-06-01"}}) != fingerprint(base)
