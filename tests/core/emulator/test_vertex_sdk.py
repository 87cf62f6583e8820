"""The real ``anthropic.AnthropicVertex`` client (sync, async, streaming) against the emulator's Vertex AI endpoint:
``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict`` and
``:streamRawPredict``, Anthropic's caching rules and usage. ``access_token=`` means no Google credentials."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from cachepoint.core.emulator import Emulator
from cachepoint.core.usage import normalize_usage

MODEL = "claude-sonnet-4-6"  # Anthropic's rules: minimum 1024 tokens, TTLs 5m and 1h


def _payload(manual: str, question: str) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": question}],
    }


def _client(emulator: Emulator, region: str = "us-east5") -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(
        project_id="acme-prod", region=region, base_url=emulator.vertex_base_url, access_token="tok-a", max_retries=0
    )


@pytest.mark.parametrize("region", ["us-east5", "global"])
def test_first_call_writes_second_reads_as_on_anthropic(
    cachepoint_emulator: Emulator, manual: str, simulate: Callable[..., Any], region: str
) -> None:
    client = _client(cachepoint_emulator, region)
    payload = _payload(manual, "How do I reset it?")
    first = client.messages.create(**payload)
    second = client.messages.create(**payload)
    expected = simulate("anthropic", [(payload, 0.0), (payload, 0.0)], tenant="tok-a")

    assert first.usage.cache_creation_input_tokens == expected[0].write_tokens > 1024
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert first.model == MODEL
    recorded = cachepoint_emulator.requests
    path = f"/v1/projects/acme-prod/locations/{region}/publishers/anthropic/models/{MODEL}:rawPredict"
    assert [(r.protocol, r.path, r.status, r.tenant, r.model) for r in recorded] == [
        ("vertex", path, 200, "tok-a", MODEL)
    ] * 2
    # What the SDK sent: a Messages body with Vertex's version and no model.
    assert recorded[0].body is not None
    assert recorded[0].body["anthropic_version"] in ("vertex-2023-10-16", anthropic._constants.ANTHROPIC_API_VERSION)
    assert "model" not in recorded[0].body
    assert [r.usage for r in recorded] == [normalize_usage(first), normalize_usage(second)]


def test_a_stream_reports_the_cache_in_message_start_and_the_final_delta(
    cachepoint_emulator: Emulator, manual: str
) -> None:
    client = _client(cachepoint_emulator)
    payload = _payload(manual, "How do I reset it?")
    client.messages.create(**payload)
    with client.messages.stream(**payload) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.cache_read_input_tokens > 1024
    assert final.usage.cache_creation_input_tokens == 0
    streamed = cachepoint_emulator.requests[-1]
    assert streamed.path.endswith(f"/models/{MODEL}:streamRawPredict")
    assert streamed.stream is True


def test_the_async_client_shares_the_cache_of_the_same_token(cachepoint_emulator: Emulator, manual: str) -> None:
    payload = _payload(manual, "How do I reset it?")
    _client(cachepoint_emulator).messages.create(**payload)

    async def call() -> Any:
        client = anthropic.AsyncAnthropicVertex(
            project_id="acme-prod",
            region="europe-west1",
            base_url=cachepoint_emulator.vertex_base_url,
            access_token="tok-a",
            max_retries=0,
        )
        return await client.messages.create(**payload)

    message = asyncio.run(call())
    assert message.usage.cache_read_input_tokens > 1024


def test_count_tokens_goes_to_the_count_tokens_model(cachepoint_emulator: Emulator, manual: str) -> None:
    client = _client(cachepoint_emulator)
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": manual}])
    assert counted.input_tokens > 1024
    record = cachepoint_emulator.requests[-1]
    assert record.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert record.operation == "count_tokens"


def test_vertex_rules_are_anthropics_markers_past_four_are_refused(cachepoint_emulator: Emulator, manual: str) -> None:
    client = _client(cachepoint_emulator)
    marker = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"{manual} part {i}", "cache_control": marker} for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        client.messages.create(
            model=MODEL,
            max_tokens=8,
            system=system,
            messages=[{"role": "user", "content": "Hi"}],  # type: ignore[arg-type]
        )


def _post(emulator: Emulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"authorization": "Bearer tok-a", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


PATH = f"/v1/projects/p/locations/global/publishers/anthropic/models/{MODEL}:rawPredict"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (PATH, {"max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}, 400, "anthropic_version: Field"),
        (
            PATH,
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "Hi"}],
            },
            400,
            "Input should be 'vertex-2023-10-16' or a dated API version",
        ),
        (
            PATH,
            {"anthropic_version": "vertex-2023-10-16", "model": MODEL, "max_tokens": 8, "messages": []},
            400,
            "model: Extra inputs are not permitted",
        ),
        (
            PATH.replace(":rawPredict", ":streamRawPredict"),
            {
                "anthropic_version": "vertex-2023-10-16",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "Hi"}],
            },
            400,
            "streamRawPredict expects stream=true",
        ),
        (PATH.replace(":rawPredict", ":predict"), {"anthropic_version": "vertex-2023-10-16"}, 404, "Not Found"),
    ],
)
def test_a_bad_vertex_request_is_refused_naming_what_was_expected(
    cachepoint_emulator: Emulator, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    got, answer = _post(cachepoint_emulator, path, body)
    assert got == status
    assert message in answer["error"]["message"]
