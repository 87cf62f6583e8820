"""Keys: equal requests (as a provider sees them) share a key; anything that changes the answer or the scope
does not."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
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
NOISE = {
    "stream": True,
    "timeout": 30,
    "metadata": {"user_id": "u-123"},
    "user": "someone",
    "api_key": "sk-secret",
    "extra_headers": {"x-trace": "abc"},
    "callbacks": ["handler"],
    "prompt_cache_key": "bucket-7",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    "cache_control": {"type": "ephemeral"},
    "max_retries": 5,
    "service_tier": "priority",
}


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same value with every dict's key order permuted (recursively)."""
    if isinstance(value, dict):
        items = [(k, shuffled(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def decorated(request: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same request with provider cache markers, message ids and non-output parameters sprinkled in."""
    out = copy.deepcopy(request)
    for index, message in enumerate(out["messages"]):
        message["id"] = f"run-{rng.random()}"
        if rng.random() < 0.5:
            message["response_metadata"] = {"id": f"msg_{index}", "usage": {"input_tokens": rng.randint(1, 9)}}
        if isinstance(message["content"], list):
            for block in message["content"]:
                if rng.random() < 0.5:
                    block["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
                if rng.random() < 0.3:
                    block["prompt_cache_breakpoint"] = {"mode": "explicit"}
            if rng.random() < 0.5:
                message["content"].insert(rng.randint(0, len(message["content"])), {"cachePoint": {"type": "default"}})
    if isinstance(out.get("system"), list):
        out["system"].append({"cachePoint": {"type": "default"}})
        out["system"][0]["cache_control"] = {"type": "ephemeral"}
    for tool in out.get("tools", []):
        tool["cache_control"] = {"type": "ephemeral"}
    if "tools" in out:
        out["tools"].append({"cachePoint": {"type": "default"}})
    for name in rng.sample(sorted(NOISE), rng.randint(1, len(NOISE))):
        out[name] = NOISE[name]
    if isinstance(out.get("temperature"), int):
        out["temperature"] = float(out["temperature"])  # 0 and 0.0 are the same request
    return shuffled(out, rng)


@given(request=requests, seed=st.integers(0, 2**32))
@settings(max_examples=300)
def test_equal_requests_give_equal_keys(request: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    variant = decorated(request, rng)
    assert cache_key(variant, namespace="chat", tenant="acme") == cache_key(request, namespace="chat", tenant="acme")


@given(request=requests, other=requests)
@settings(max_examples=300)
def test_requests_that_differ_in_what_the_model_sees_get_different_keys(
    request: dict[str, Any], other: dict[str, Any]
) -> None:
    # Compared independently of the implementation: stdlib JSON with sorted keys, temperatures as floats.
    def meaning(r: dict[str, Any]) -> str:
        r = dict(r)
        if r.get("temperature") is not None:
            r["temperature"] = float(r["temperature"])
        return json.dumps(r, sort_keys=True)

    if meaning(request) != meaning(other):
        assert fingerprint(request) != fingerprint(other)


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
