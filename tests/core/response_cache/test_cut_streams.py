"""A stream that ends before the events that end a complete answer (a proxy or a connection that ends the body
early, cleanly: the SDKs raise nothing) is handed on as it came and never stored, so it is never replayed.

Real SDK clients against the emulator, behind a proxy that cuts the first streamed answer (tests/cutting_proxy.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import openai
import pytest

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.stores import MemoryStore
from cutting_proxy import CuttingProxy

QUESTION = [{"role": "user", "content": "How do I reset my router?"}]
CLAUDE: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 256,
    "messages": QUESTION,
    "extra_body": {"temperature": 0},
}
GPT: dict[str, Any] = {"model": "gpt-4.1", "messages": QUESTION, "temperature": 0}
CONVERSE: dict[str, Any] = {
    "modelId": "anthropic.claude-sonnet-4-6",
    "messages": [{"role": "user", "content": [{"text": "How do I reset my router?"}]}],
    "inferenceConfig": {"temperature": 0},
}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(reply="Hold the reset button for ten seconds.") as running:
        yield running


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[CuttingProxy]:
    with CuttingProxy(emulator) as running:
        yield running


@pytest.fixture
def cache() -> ResponseCache:
    return ResponseCache(MemoryStore(max_entries=100), CachePolicy("cut"))


def kinds(events: list[Any]) -> list[str]:
    return [event.type for event in events]


def test_a_cut_anthropic_stream_is_not_stored(cache: ResponseCache, proxy: CuttingProxy, emulator: Emulator) -> None:
    claude = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    sources, streams = [], []
    for _ in range(3):
        stream = cache.sync.stream(CLAUDE, lambda: claude.messages.create(**CLAUDE, stream=True))
        streams.append(list(stream))
        sources.append(stream.source)
    assert "message_stop" not in kinds(streams[0])  # the cut one, handed on as it came
    assert kinds(streams[1])[-1] == kinds(streams[2])[-1] == "message_stop"
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert len(emulator.requests) == 2
    assert cache.stats().stored == 1


async def test_a_cut_async_anthropic_stream_is_not_stored(
    cache: ResponseCache, proxy: CuttingProxy, emulator: Emulator
) -> None:
    claude = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0)
    sources, streams = [], []
    for _ in range(3):
        stream = cache.stream(CLAUDE, lambda: claude.messages.create(**CLAUDE, stream=True))
        streams.append([event async for event in stream])
        sources.append(stream.source)
    assert "message_stop" not in kinds(streams[0])
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert len(emulator.requests) == 2


def test_a_cut_openai_stream_is_not_stored(cache: ResponseCache, proxy: CuttingProxy, emulator: Emulator) -> None:
    gpt = openai.OpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0)
    sources, streams = [], []
    for _ in range(3):
        stream = cache.sync.stream(GPT, lambda: gpt.chat.completions.create(**GPT, stream=True))
        streams.append(list(stream))
        sources.append(stream.source)
    assert not any(choice.finish_reason for chunk in streams[0] for choice in chunk.choices)
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert len(emulator.requests) == 2


def converse_streams(cache: ResponseCache, url: str) -> tuple[list[list[Any]], list[Source | None]]:
    """Three identical ConverseStream calls through ``cache`` (boto3 at ``url``): what each yielded, and from where."""
    bedrock = boto3.client(
        "bedrock-runtime", endpoint_url=url, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    sources, streams = [], []
    for _ in range(3):
        stream = cache.sync.stream(CONVERSE, lambda: bedrock.converse_stream(**CONVERSE)["stream"])
        streams.append(list(stream))
        sources.append(stream.source)
    return streams, sources


def test_a_cut_bedrock_converse_stream_is_not_stored(
    cache: ResponseCache, proxy: CuttingProxy, emulator: Emulator
) -> None:
    streams, sources = converse_streams(cache, proxy.url)
    assert not any("messageStop" in event for event in streams[0])
    assert any("messageStop" in event for event in streams[1])
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert len(emulator.requests) == 2


# --- cut later: after the stop reason, before what the provider always sends last (the usage) ---


@pytest.fixture
def late_cut(emulator: Emulator) -> Iterator[CuttingProxy]:
    with CuttingProxy(emulator, at="last") as running:
        yield running


def test_an_openai_stream_cut_before_the_usage_it_asked_for_is_not_stored(
    cache: ResponseCache, late_cut: CuttingProxy, emulator: Emulator
) -> None:
    gpt = openai.OpenAI(base_url=late_cut.url + "/v1", api_key="k", max_retries=0)
    request = {**GPT, "stream_options": {"include_usage": True}}
    sources, usages = [], []
    for _ in range(3):
        stream = cache.sync.stream(request, lambda: gpt.chat.completions.create(**request, stream=True))
        usages.append([chunk.usage for chunk in stream if chunk.usage is not None])
        sources.append(stream.source)
    assert usages[0] == []  # the cut one, handed on as it came: finished, without its usage
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert usages[2] == usages[1] != []


def test_a_bedrock_converse_stream_cut_before_its_metadata_is_not_stored(
    cache: ResponseCache, late_cut: CuttingProxy, emulator: Emulator
) -> None:
    streams, sources = converse_streams(cache, late_cut.url)
    assert any("messageStop" in event for event in streams[0])
    assert not any("metadata" in event for event in streams[0])  # where ConverseStream reports the usage
    assert sources == [Source.MISS, Source.MISS, Source.HIT]
    assert streams[2] == streams[1]
