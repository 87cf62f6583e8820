"""Model objects in the codec: provider SDK objects and registered pydantic models round-trip as the same types;
a type off the allowlist is never rebuilt (``unknown_type``); nothing imports an SDK before it is needed."""

from __future__ import annotations

import datetime
import struct
import subprocess
import sys
import zlib
from typing import Any, Generic, TypeVar

import anthropic
import msgpack
import openai
import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.codec import Codec, DecodeOutcome, EncodeError
from cachepoint.core.sdk_types import SDK_MODULES, UnknownTypeError, model_type, register_model, type_of

ENCODINGS = ("json", "msgpack")


@register_model
class Source(pydantic.BaseModel):
    url: str
    score: float = 0.0


@register_model
class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")  # raw: any bytes

    text: str
    sources: list[Source] = []
    raw: bytes = b""
    meta: dict[str, Any] = {}
    when: datetime.datetime | None = None
    tags: frozenset[str] = frozenset()


class Unregistered(pydantic.BaseModel):
    x: int


texts = st.text(max_size=30)
sources = st.builds(Source, url=texts, score=st.floats(allow_nan=False, allow_infinity=False))
answers = st.builds(
    Answer,
    text=texts,
    sources=st.lists(sources, max_size=3),
    raw=st.binary(max_size=20),
    meta=st.dictionaries(texts, st.integers(-(2**53), 2**53) | texts | st.none(), max_size=3),
    when=st.datetimes(timezones=st.just(datetime.timezone.utc)),
    tags=st.frozensets(texts, max_size=3),
)
plain = st.none() | st.integers(-(2**63), 2**63 - 1) | texts | st.binary(max_size=10)
holding_models = st.recursive(
    answers | plain,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts | st.just("$cp"), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=150, deadline=None)
@given(value=holding_models)
def test_registered_models_round_trip_anywhere_in_a_value(encoding: str, value: Any) -> None:
    codec = Codec(encoding=encoding)
    assert codec.decode(codec.encode(value)) == value


def _message(text: str, extra_block: dict[str, Any] | None = None) -> anthropic.types.Message:
    """A Message built as the SDK builds one from the API's JSON (``model_construct``)."""
    content: list[Any] = [{"type": "text", "text": text}]
    if extra_block is not None:
        content.append(extra_block)
    return anthropic.types.Message.model_construct(
        id="msg_01",
        type="message",
        role="assistant",
        model="claude-sonnet-5",
        content=content,
        stop_reason="end_turn",
        stop_sequence=None,
        usage={"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 0},
    )


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=40))
def test_sdk_messages_round_trip_as_the_sdk_built_them(encoding: str, text: str) -> None:
    codec = Codec(encoding=encoding)
    message = _message(text)
    replayed = codec.decode(codec.encode(message))
    assert type(replayed) is anthropic.types.Message
    assert type(replayed.content[0]) is anthropic.types.TextBlock
    assert replayed == message
    assert replayed.to_dict() == message.to_dict()


def test_parts_the_sdk_version_does_not_know_come_back_as_the_sdk_returned_them() -> None:
    # A newer API may send a block type or a field this SDK version has no class for: the SDK keeps it as it came,
    # and so does a replay (a validating rebuild would refuse the whole message).
    message = _message("hi", {"type": "hologram", "frames": 3})
    message_with_extra = anthropic.types.Message.model_construct(
        **{**message.to_dict(warnings=False), "future_field": {"a": 1}}
    )
    for encoding in ENCODINGS:
        codec = Codec(encoding=encoding)
        for original in (message, message_with_extra):
            replayed = codec.decode(codec.encode(original))
            assert replayed == original
            assert replayed.to_dict(warnings=False) == original.to_dict(warnings=False)
    assert codec.decode(codec.encode(message_with_extra)).future_field == {"a": 1}


def test_stream_events_and_openai_objects_keep_their_types() -> None:
    events = [
        anthropic.types.RawMessageStartEvent.model_construct(type="message_start", message=_message("").to_dict()),
        anthropic.types.RawContentBlockDeltaEvent.model_construct(
            type="content_block_delta", index=0, delta={"type": "text_delta", "text": "Par"}
        ),
        openai.types.chat.ChatCompletionChunk.model_construct(
            id="c1",
            object="chat.completion.chunk",
            created=1,
            model="gpt-5",
            choices=[{"index": 0, "delta": {"content": "is"}, "finish_reason": None}],
        ),
        openai.types.responses.ResponseTextDeltaEvent.model_construct(
            type="response.output_text.delta",
            item_id="i",
            output_index=0,
            content_index=0,
            delta="x",
            sequence_number=3,
        ),
    ]
    for encoding in ENCODINGS:
        codec = Codec(encoding=encoding)
        replayed = codec.decode(codec.encode(events))
        assert replayed == events
        assert [type(e) for e in replayed] == [type(e) for e in events]
        assert type(replayed[0].message) is anthropic.types.Message
        assert type(replayed[1].delta) is anthropic.types.TextDelta


def test_sdk_types_are_named_by_the_public_module_that_exports_them() -> None:
    assert type_of(anthropic.types.Message).name == "anthropic.types.Message"  # type: ignore[union-attr]
    assert type_of(openai.types.chat.ChatCompletionChunk).name == "openai.types.chat.ChatCompletionChunk"  # type: ignore[union-attr]
    assert model_type("anthropic.types.RawMessageStopEvent").cls is anthropic.types.RawMessageStopEvent
    # A nested part no allowed module exports has no name of its own (it travels inside its parent).
    from openai.types.chat.chat_completion import Choice

    assert type_of(Choice) is None
    assert set(SDK_MODULES) == {"anthropic", "openai"}


def _envelope(payload: bytes, encoding: int, flags: int) -> bytes:
    header = struct.pack(">3sBBBI", b"CPE", 1, encoding, flags, len(payload))
    return header + struct.pack(">I", zlib.crc32(payload, zlib.crc32(header))) + payload


@pytest.mark.parametrize(
    "name",
    ["os.system", "anthropic.Anthropic", "anthropic.types.message", "anthropic.types._private", "openai.OpenAI", 7],
)
def test_a_type_off_the_allowlist_is_never_rebuilt(name: Any) -> None:
    data = {"id": "msg_01"}
    as_json = _envelope(orjson.dumps({"$cp": "model", "v": [name, data]}), 1, 0x02)
    inner = msgpack.packb([name, data], use_bin_type=True)
    as_msgpack = _envelope(msgpack.packb(msgpack.ExtType(1, inner), use_bin_type=True), 2, 0)
    for raw in (as_json, as_msgpack):
        codec = Codec()
        result = codec.try_decode(raw)
        expected = DecodeOutcome.CORRUPT if not isinstance(name, str) else DecodeOutcome.UNKNOWN_TYPE
        assert result.outcome is expected, result
        assert codec.counts[expected.value] == 1


def test_stored_data_a_registered_model_no_longer_accepts_is_corrupt() -> None:
    raw = _envelope(orjson.dumps({"$cp": "model", "v": [type_of(Answer).name, {"sources": 3}]}), 1, 0x02)  # type: ignore[union-attr]
    result = Codec().try_decode(raw)
    assert result.outcome is DecodeOutcome.CORRUPT
    assert "does not accept the stored data" in result.detail


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_unregistered_model_is_an_encode_error_that_says_how_to_store_it(encoding: str) -> None:
    with pytest.raises(EncodeError) as info:
        Codec(encoding=encoding).encode({"answers": [Answer(text="a"), Unregistered(x=1)]})
    assert info.value.path == "value['answers'][1]"
    assert "unsupported type 'Unregistered'" in str(info.value)


def test_register_model_refuses_what_it_cannot_rebuild() -> None:
    T = TypeVar("T")

    class Box(pydantic.BaseModel, Generic[T]):
        item: T

    with pytest.raises(TypeError, match="expected a pydantic model class"):
        register_model(dict)
    with pytest.raises(TypeError, match="is generic"):
        register_model(Box)
    with pytest.raises(ValueError, match="reserved for the anthropic SDK"):
        register_model(Unregistered, name="anthropic.types.Message")
    with pytest.raises(ValueError, match="already registered for Answer"):
        register_model(Unregistered, name=type_of(Answer).name)  # type: ignore[union-attr]
    with pytest.raises(UnknownTypeError):
        model_type(f"{Unregistered.__module__}.{Unregistered.__qualname__}")

    class IntBox(Box[int]):
        pass

    register_model(IntBox, name="tests.IntBox")
    codec = Codec()
    assert codec.decode(codec.encode(IntBox(item=3))) == IntBox(item=3)


def test_the_same_class_defined_again_takes_its_name_over() -> None:
    # A notebook cell run twice defines a new class object with the same module and name.
    def define() -> type[pydantic.BaseModel]:
        class Note(pydantic.BaseModel):
            body: str

        return register_model(Note, name="tests.Note")

    first, second = define(), define()
    assert first is not second
    codec = Codec()
    assert type(codec.decode(codec.encode(second(body="x")))) is second
    assert model_type("tests.Note").cls is second
    assert type_of(first) is None  # the old class object is no longer stored


def test_importing_core_and_using_the_cache_imports_no_provider_sdk() -> None:
    script = (
        "import asyncio, sys\n"
        "from cachepoint.core.codec import Codec\n"
        "from cachepoint.core.response_cache import CachePolicy, ResponseCache\n"
        "from cachepoint.core.stores import MemoryStore\n"
        "cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy('c'))\n"
        "async def ask():\n"
        "    return {'text': 'hi'}\n"
        "request = {'model': 'm', 'messages': [], 'temperature': 0}\n"
        "for _ in range(2):\n"
        "    asyncio.run(cache.get_or_call(request, ask))\n"
        "print(sorted(m for m in ('anthropic', 'openai', 'pydantic', 'botocore') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_generic_sdk_class_parametrized_by_a_type_variable_is_stored_as_its_generic_class() -> None:
    # openai 2.x's Responses stream helper yields `ResponseTextDoneEvent[~TextFormatT]`: nothing more than the
    # generic class, which it is rebuilt as (pydantic compares generic classes by their origin).
    from openai.lib.streaming.responses import ResponseTextDoneEvent
    from openai.types.chat import ParsedChatCompletion

    parametrized = ResponseTextDoneEvent[TypeVar("Format")]  # type: ignore[misc]
    assert type_of(parametrized) is type_of(ResponseTextDoneEvent)
    event = parametrized.model_construct(
        type="response.output_text.done", item_id="i", output_index=0, content_index=0, text="Paris.", sequence_number=1
    )
    codec = Codec()
    replayed = codec.decode(codec.encode(event))
    assert type(replayed) is ResponseTextDoneEvent
    assert replayed == event
    # Parametrized by a real type (a parsed structured output), it has no name that says which: not stored.
    assert type_of(ParsedChatCompletion[Source]) is None
    with pytest.raises(EncodeError, match="unsupported type 'ParsedChatCompletion"):
        codec.encode(ParsedChatCompletion[Source].model_construct(id="c", choices=[], created=0, model="m"))
