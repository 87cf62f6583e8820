"""The real provider SDKs through the response cache, with no dump/load: what the SDK returned — a message, a
completion, every stream event — is stored by default and replayed as the same objects of the same types.

Every upstream request is counted at the emulator (`cachepoint.core.emulator`), so "the second call made no
request" is observed outside the cache. The stores are a MemoryStore (the in-process path, which keeps verified
entries) and Redis (bytes through the network, decoded on every read).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import boto3
import openai
import orjson
import pytest
from botocore.config import Config

from cachepoint.core.codec import Codec
from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.stores import MemoryStore, RedisStore
from responses_server import ResponsesServer

REPLY = Reply("Let me check the weather.", tool_calls=(ToolCall("get_weather", {"city": "Paris"}),))

CLAUDE = "claude-sonnet-4-6"
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
# anthropic 1.0+ takes sampling parameters only through extra_body; temperature 0 makes the call repeatable.
CLAUDE_REQUEST: dict[str, Any] = {
    "model": CLAUDE,
    "max_tokens": 256,
    "messages": QUESTION,
    "extra_body": {"temperature": 0},
}
GPT_REQUEST: dict[str, Any] = {"model": "gpt-5", "messages": QUESTION, "temperature": 0}


@pytest.fixture
def cachepoint_emulator() -> Iterator[Emulator]:
    """The emulator answers text and a tool call, so streams carry text and input_json deltas."""
    with Emulator(reply=REPLY) as emulator:
        yield emulator


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[ResponseCache]:
    if request.param == "memory":
        yield ResponseCache(MemoryStore(max_entries=100), CachePolicy("sdk"))
        return
    store = RedisStore(request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_prefix"))
    yield ResponseCache(store, CachePolicy("sdk"))
    await store.close()


@pytest.fixture
def claude(cachepoint_emulator: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=cachepoint_emulator.anthropic_base_url, api_key="key-a", max_retries=0)


@pytest.fixture
def async_claude(cachepoint_emulator: Emulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=cachepoint_emulator.anthropic_base_url, api_key="key-a", max_retries=0)


@pytest.fixture
def gpt(cachepoint_emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=cachepoint_emulator.openai_base_url, api_key="key-o", max_retries=0)


@pytest.fixture
def async_gpt(cachepoint_emulator: Emulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=cachepoint_emulator.openai_base_url, api_key="key-o", max_retries=0)


def _same(first: Any, second: Any) -> None:
    """``second`` is ``first`` replayed: equal, of the same types all the way down, and a distinct object."""
    assert second == first
    assert second is not first
    if isinstance(first, list):
        assert [type(item) for item in second] == [type(item) for item in first]
        assert all(a is not b for a, b in zip(first, second, strict=True))
    else:
        assert type(second) is type(first)
    assert _as_sdk_sends(second) == _as_sdk_sends(
        first
    )  # what the SDK itself would serialize (fields set, extras) is the same


def _as_sdk_sends(value: Any) -> Any:
    if isinstance(value, list):
        return [item.to_dict(warnings=False) for item in value]
    return value.to_dict(warnings=False)


# -- Anthropic --------------------------------------------------------------------------------------------------


def test_anthropic_message_sync(
    cache: ResponseCache, claude: anthropic.Anthropic, cachepoint_emulator: Emulator
) -> None:
    first = cache.sync.get_or_call(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST))
    second = cache.sync.get_or_call(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST))
    assert (first.source, second.source) == (Source.MISS, Source.HIT)
    assert len(cachepoint_emulator.requests) == 1
    assert isinstance(second.value, anthropic.types.Message)
    assert [block.type for block in second.value.content] == ["text", "tool_use"]
    assert second.value.content[1].input == {"city": "Paris"}
    _same(first.value, second.value)


async def test_anthropic_message_async(
    cache: ResponseCache, async_claude: anthropic.AsyncAnthropic, cachepoint_emulator: Emulator
) -> None:
    results = [await cache.get_or_call(CLAUDE_REQUEST, lambda: async_claude.messages.create(**CLAUDE_REQUEST))]
    results.append(await cache.get_or_call(CLAUDE_REQUEST, lambda: async_claude.messages.create(**CLAUDE_REQUEST)))
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    _same(results[0].value, results[1].value)


def test_anthropic_raw_stream_sync(
    cache: ResponseCache, claude: anthropic.Anthropic, cachepoint_emulator: Emulator
) -> None:
    streams = [cache.sync.stream(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST, stream=True))]
    first = list(streams[0])
    streams.append(cache.sync.stream(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST, stream=True)))
    second = list(streams[1])
    assert [s.source for s in streams] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    kinds = [event.type for event in second]
    assert (kinds[0], kinds[-1]) == ("message_start", "message_stop")
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(kinds)
    assert any(
        isinstance(e, anthropic.types.RawContentBlockDeltaEvent) and e.delta.type == "input_json_delta" for e in second
    )
    _same(first, second)


async def test_anthropic_raw_stream_async(
    cache: ResponseCache, async_claude: anthropic.AsyncAnthropic, cachepoint_emulator: Emulator
) -> None:
    # The guide's pattern: the call returns the coroutine of `create(stream=True)`; the cache awaits it.
    replays = []
    for _ in range(2):
        stream = cache.stream(CLAUDE_REQUEST, lambda: async_claude.messages.create(**CLAUDE_REQUEST, stream=True))
        replays.append(([event async for event in stream], stream.source))
    assert [source for _, source in replays] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    _same(replays[0][0], replays[1][0])


def test_anthropic_stream_manager_sync(
    cache: ResponseCache, claude: anthropic.Anthropic, cachepoint_emulator: Emulator
) -> None:
    # `messages.stream(...)` is a context manager, not an iterable: the cache enters it and streams its events,
    # the raw ones and the helper's own (text, the last message_stop carrying the whole message).
    runs = []
    for _ in range(2):
        stream = cache.sync.stream(CLAUDE_REQUEST, lambda: claude.messages.stream(**CLAUDE_REQUEST))
        runs.append((list(stream), stream.source))
    (first, miss), (second, hit) = runs
    assert (miss, hit) == (Source.MISS, Source.HIT)
    assert len(cachepoint_emulator.requests) == 1
    assert "text" in {event.type for event in second}
    final = second[-1]
    assert final.type == "message_stop"
    assert [block.type for block in final.message.content] == ["text", "tool_use"]
    _same(first, second)


async def test_anthropic_stream_manager_async(
    cache: ResponseCache, async_claude: anthropic.AsyncAnthropic, cachepoint_emulator: Emulator
) -> None:
    runs = []
    for _ in range(2):
        async with cache.stream(CLAUDE_REQUEST, lambda: async_claude.messages.stream(**CLAUDE_REQUEST)) as stream:
            runs.append(([event async for event in stream], stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    _same(runs[0][0], runs[1][0])


def test_modern_claude_samples_so_it_is_replayed_only_when_the_policy_says_so(
    claude: anthropic.Anthropic, cachepoint_emulator: Emulator
) -> None:
    sampled = {"model": CLAUDE, "max_tokens": 64, "messages": QUESTION}  # no temperature: the model samples
    honest = ResponseCache(MemoryStore(max_entries=10), CachePolicy("sdk"))
    results = [honest.sync.get_or_call(sampled, lambda: claude.messages.create(**sampled)) for _ in range(2)]
    assert [r.source for r in results] == [Source.BYPASS, Source.BYPASS]
    assert results[0].reason == "sampled: temperature unset"
    replaying = ResponseCache(MemoryStore(max_entries=10), CachePolicy("sdk", cache_nondeterministic=True))
    results = [replaying.sync.get_or_call(sampled, lambda: claude.messages.create(**sampled)) for _ in range(2)]
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 3
    _same(results[0].value, results[1].value)


# -- OpenAI ------------------------------------------------------------------------------------------------------


def test_openai_completion_sync(cache: ResponseCache, gpt: openai.OpenAI, cachepoint_emulator: Emulator) -> None:
    results = [
        cache.sync.get_or_call(GPT_REQUEST, lambda: gpt.chat.completions.create(**GPT_REQUEST)) for _ in range(2)
    ]
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    assert isinstance(results[1].value, openai.types.chat.ChatCompletion)
    assert results[1].value.choices[0].message.tool_calls[0].function.name == "get_weather"
    _same(results[0].value, results[1].value)


async def test_openai_completion_async(
    cache: ResponseCache, async_gpt: openai.AsyncOpenAI, cachepoint_emulator: Emulator
) -> None:
    results = [
        await cache.get_or_call(GPT_REQUEST, lambda: async_gpt.chat.completions.create(**GPT_REQUEST)) for _ in range(2)
    ]
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    _same(results[0].value, results[1].value)


def test_openai_chunks_sync(cache: ResponseCache, gpt: openai.OpenAI, cachepoint_emulator: Emulator) -> None:
    request = {**GPT_REQUEST, "stream_options": {"include_usage": True}}
    runs = []
    for _ in range(2):
        stream = cache.sync.stream(request, lambda: gpt.chat.completions.create(**request, stream=True))
        runs.append((list(stream), stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    chunks = runs[1][0]
    assert all(isinstance(chunk, openai.types.chat.ChatCompletionChunk) for chunk in chunks)
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []
    _same(runs[0][0], chunks)


async def test_openai_chunks_async(
    cache: ResponseCache, async_gpt: openai.AsyncOpenAI, cachepoint_emulator: Emulator
) -> None:
    runs = []
    for _ in range(2):
        stream = cache.stream(GPT_REQUEST, lambda: async_gpt.chat.completions.create(**GPT_REQUEST, stream=True))
        runs.append(([chunk async for chunk in stream], stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    _same(runs[0][0], runs[1][0])


def test_openai_stream_manager_sync(cache: ResponseCache, gpt: openai.OpenAI, cachepoint_emulator: Emulator) -> None:
    # `chat.completions.stream(...)` is a context manager too: its events (chunk, content.delta...) are streamed.
    # Its chunk events share one snapshot object that the SDK keeps updating, so each event is compared as the
    # consumer saw it when it arrived (the cache records each one then, too).
    runs = []
    for _ in range(2):
        stream = cache.sync.stream(GPT_REQUEST, lambda: gpt.chat.completions.stream(**GPT_REQUEST))
        runs.append(([(type(event), event.to_dict(warnings=False)) for event in stream], stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert len(cachepoint_emulator.requests) == 1
    assert {"chunk", "content.delta"} <= {seen["type"] for _, seen in runs[1][0]}
    assert runs[1][0] == runs[0][0]


# -- Bedrock Converse: plain dicts, streams of event dicts --------------------------------------------------------


@pytest.fixture
def bedrock(cachepoint_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=cachepoint_emulator.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEMULATOR",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


BEDROCK_REQUEST: dict[str, Any] = {
    "modelId": "anthropic.claude-sonnet-4-6",
    "messages": [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}],
    "inferenceConfig": {"temperature": 0, "maxTokens": 256},
}


def test_bedrock_converse_and_its_event_stream(
    cache: ResponseCache, bedrock: Any, cachepoint_emulator: Emulator
) -> None:
    answers = [cache.sync.get_or_call(BEDROCK_REQUEST, lambda: bedrock.converse(**BEDROCK_REQUEST)) for _ in range(2)]
    assert [a.source for a in answers] == [Source.MISS, Source.HIT]
    assert answers[1].value == answers[0].value
    assert answers[1].value is not answers[0].value
    assert answers[1].value["output"]["message"]["content"][1]["toolUse"]["input"] == {"city": "Paris"}
    runs = []
    for _ in range(2):
        stream = cache.sync.stream(BEDROCK_REQUEST, lambda: bedrock.converse_stream(**BEDROCK_REQUEST)["stream"])
        runs.append((list(stream), stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert runs[1][0] == runs[0][0]
    assert "metadata" in runs[1][0][-1]
    assert len(cachepoint_emulator.requests) == 2


def test_a_converse_stream_response_itself_is_refused_with_the_fix(cache: ResponseCache, bedrock: Any) -> None:
    with pytest.raises(TypeError, match=r"converse_stream\(\*\*request\)\['stream'\]"):
        list(cache.sync.stream(BEDROCK_REQUEST, lambda: bedrock.converse_stream(**BEDROCK_REQUEST)))


def test_a_sync_sdk_stream_given_to_the_async_face_says_which_face_to_use(
    claude: anthropic.Anthropic,
) -> None:
    import asyncio

    cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("sdk"))

    async def read() -> list[Any]:
        return [
            e async for e in cache.stream(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST, stream=True))
        ]

    with pytest.raises(TypeError, match=r"got Stream; it is a sync stream: use cache\.sync\.stream"):
        asyncio.run(read())


# -- A poisoned entry naming a type off the allowlist is a counted miss -----------------------------------------


def _forge(payload: Any) -> bytes:
    """An unsigned JSON envelope with a valid CRC around ``payload`` (what anyone who can write the store can do;
    the layout is the codec's documented version 1)."""
    body = orjson.dumps(payload)
    header = struct.pack(">3sBBBI", b"CPE", 1, 1, 0x02, len(body))
    return header + struct.pack(">I", zlib.crc32(body, zlib.crc32(header))) + body


@pytest.mark.parametrize(
    "foreign",
    [
        "os.system",
        "subprocess.Popen",
        "anthropic.Anthropic",  # an SDK class, but no model type and not in an allowed module
        "anthropic.types.message",  # a module of the SDK, not a class
        "anthropic.types.beta.BetaMessageParam",  # exported there, but a TypedDict: not an SDK model
        "builtins.dict",
    ],
)
def test_an_entry_naming_a_foreign_type_is_a_counted_miss(
    cache: ResponseCache, claude: anthropic.Anthropic, cachepoint_emulator: Emulator, foreign: str
) -> None:
    call: Callable[[], Any] = lambda: claude.messages.create(**CLAUDE_REQUEST)  # noqa: E731
    first = cache.sync.get_or_call(CLAUDE_REQUEST, call)
    key = first.key
    assert key is not None
    stored = cache.sync.get_or_call(CLAUDE_REQUEST, call)
    assert stored.hit
    tree = orjson.loads(_forge_source(cache, key))
    assert tree["d"]["v"][0] == "anthropic.types.Message"
    tree["d"]["v"][0] = foreign
    _put(cache, key, _forge(tree))

    poisoned = cache.sync.get_or_call(CLAUDE_REQUEST, call)
    assert poisoned.source is Source.MISS
    assert type(poisoned.value) is anthropic.types.Message
    assert cache.stats().bad_entries == {"unknown_type": 1}
    assert len(cachepoint_emulator.requests) == 2  # the poisoned entry sent the call upstream, and was replaced
    assert cache.sync.get_or_call(CLAUDE_REQUEST, call).hit


def _forge_source(cache: ResponseCache, key: str) -> bytes:
    """The JSON payload of the entry under ``key``, read from the store as anyone could."""
    from cachepoint.core.bridge import run_sync

    raw = run_sync(lambda: cache.backend.get(key))
    assert raw is not None
    return raw[14:]


def _put(cache: ResponseCache, key: str, raw: bytes) -> None:
    from cachepoint.core.bridge import run_sync

    run_sync(lambda: cache.backend.set(key, raw, None))


def test_signed_entries_of_sdk_objects_replay_too(claude: anthropic.Anthropic, cachepoint_emulator: Emulator) -> None:
    for encoding in ("json", "msgpack"):
        codec = Codec(encoding=encoding, signing_keys=b"k" * 32)
        cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("sdk"), codec=codec)
        results = [
            cache.sync.get_or_call(CLAUDE_REQUEST, lambda: claude.messages.create(**CLAUDE_REQUEST)) for _ in range(2)
        ]
        assert [r.source for r in results] == [Source.MISS, Source.HIT]
        _same(results[0].value, results[1].value)
    assert len(cachepoint_emulator.requests) == 2


# -- OpenAI Responses API: the emulator does not speak it, so a local server answers with the API's shapes ----------


@pytest.fixture
def responses_server() -> Iterator[ResponsesServer]:
    with ResponsesServer() as server:
        yield server


RESPONSES_REQUEST: dict[str, Any] = {"model": "gpt-5", "input": "Capital of France?", "temperature": 0}


def test_openai_responses_sync(cache: ResponseCache, responses_server: ResponsesServer) -> None:
    client = openai.OpenAI(base_url=responses_server.base_url, api_key="key-o", max_retries=0)
    results = [
        cache.sync.get_or_call(RESPONSES_REQUEST, lambda: client.responses.create(**RESPONSES_REQUEST))
        for _ in range(2)
    ]
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    assert isinstance(results[1].value, openai.types.responses.Response)
    assert results[1].value.output_text == "Paris."
    _same(results[0].value, results[1].value)
    runs = []
    for _ in range(2):
        stream = cache.sync.stream(RESPONSES_REQUEST, lambda: client.responses.create(**RESPONSES_REQUEST, stream=True))
        runs.append((list(stream), stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert [type(e).__name__ for e in runs[1][0]][:2] == ["ResponseCreatedEvent", "ResponseOutputItemAddedEvent"]
    _same(runs[0][0], runs[1][0])
    assert responses_server.requests == 2


async def test_openai_responses_async_and_its_stream_manager(
    cache: ResponseCache, responses_server: ResponsesServer
) -> None:
    client = openai.AsyncOpenAI(base_url=responses_server.base_url, api_key="key-o", max_retries=0)
    results = [
        await cache.get_or_call(RESPONSES_REQUEST, lambda: client.responses.create(**RESPONSES_REQUEST))
        for _ in range(2)
    ]
    assert [r.source for r in results] == [Source.MISS, Source.HIT]
    _same(results[0].value, results[1].value)
    runs = []
    for _ in range(2):
        async with cache.stream(RESPONSES_REQUEST, lambda: client.responses.stream(**RESPONSES_REQUEST)) as stream:
            runs.append(([(type(e), e.to_dict(warnings=False)) async for e in stream], stream.source))
    assert [source for _, source in runs] == [Source.MISS, Source.HIT]
    assert runs[1][0] == runs[0][0]
    assert runs[1][0][-1][1]["type"] == "response.completed"
    assert responses_server.requests == 2
