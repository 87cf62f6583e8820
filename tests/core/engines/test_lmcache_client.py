"""LMCacheClient / AsyncLMCacheClient against a real local HTTP server speaking the LMCache controller API.

The replies are the controller's documented shapes (``lmcache/v1/api_server/__main__.py``): FastAPI models
``LookupResponse {event_id, layout_info: {instance_id: [location, token_count]}}``, ``ClearResponse`` /
``PinResponse {event_id, num_tokens}``, ``HealthResponse {event_id, error_codes: {worker_id: code}}`` (and the
older ``{event_id, error_code}``); errors ``HTTPException(500, detail=...)`` and FastAPI's 422 validation body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from cachepoint.core.engines.errors import (
    EngineConnectError,
    EngineResponseError,
    EngineStatusError,
    EngineTimeoutError,
)
from cachepoint.core.engines.lmcache import AsyncLMCacheClient, InstanceHit, LMCacheClient

TOKENS = [128000, 849, 21435, 279, 26431, 315, 85748, 6636, 304, 4221, 4211, 13]


def _sync_call(base_url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    with LMCacheClient(base_url, timeout=kwargs.pop("timeout", 5.0)) as client:
        return getattr(client, method)(*args, **kwargs)


async def _async_call(base_url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async with AsyncLMCacheClient(base_url, timeout=kwargs.pop("timeout", 5.0)) as client:
        return await getattr(client, method)(*args, **kwargs)


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Awaitable[Any]]:
    """Call a client method the sync or the async way; both must behave the same."""

    async def invoke(base_url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if request.param == "sync":
            return _sync_call(base_url, method, *args, **kwargs)
        return await _async_call(base_url, method, *args, **kwargs)

    return invoke


async def test_lookup_sends_tokens_and_ranks_instances(http_server, call) -> None:
    http_server.json(
        "POST",
        "/lookup",
        {
            "event_id": "Lookup3f2a",
            "layout_info": {"vllm-a": ["LocalCPUBackend", 8], "vllm-b": ["LocalDiskBackend", 12]},
        },
    )
    result = await call(http_server.url, "lookup", TOKENS)
    assert result.event_id == "Lookup3f2a"
    assert result.best == InstanceHit("vllm-b", "LocalDiskBackend", 12)
    assert result.matched_tokens == 12
    assert [hit.instance_id for hit in result.hits] == ["vllm-b", "vllm-a"]
    [request] = http_server.received
    assert (request.method, request.path) == ("POST", "/lookup")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"tokens": TOKENS}


async def test_lookup_with_nothing_cached(http_server, call) -> None:
    http_server.json("POST", "/lookup", {"event_id": "Lookup1", "layout_info": {}})
    result = await call(http_server.url, "lookup", [1, 2, 3])
    assert result.best is None
    assert result.matched_tokens == 0


async def test_clear_and_pin_send_the_controller_models(http_server, call) -> None:
    http_server.json("POST", "/clear", {"event_id": "Clear9", "num_tokens": 4096})
    http_server.json("POST", "/pin", {"event_id": "Pin4", "num_tokens": 12})
    cleared = await call(http_server.url, "clear", "lmcache_default_instance")
    pinned = await call(http_server.url, "pin", "lmcache_default_instance", TOKENS, location="LocalDiskBackend")
    assert (cleared.event_id, cleared.num_tokens) == ("Clear9", 4096)
    assert (pinned.event_id, pinned.num_tokens) == ("Pin4", 12)
    clear_request, pin_request = http_server.received
    assert clear_request.json() == {"instance_id": "lmcache_default_instance", "location": "LocalCPUBackend"}
    assert pin_request.json() == {
        "instance_id": "lmcache_default_instance",
        "location": "LocalDiskBackend",
        "tokens": TOKENS,
    }


async def test_health_per_worker(http_server, call) -> None:
    http_server.json("POST", "/health", {"event_id": "health1", "error_codes": {"0": 0, "1": 0}})
    healthy = await call(http_server.url, "health", "inst")
    assert healthy.healthy
    http_server.json("POST", "/health", {"event_id": "health2", "error_codes": {"0": 0, "1": 2}})
    sick = await call(http_server.url, "health", "inst")
    assert not sick.healthy
    assert sick.failing_workers == {"1": 2}
    assert http_server.received[0].json() == {"instance_id": "inst"}


async def test_health_of_an_older_controller(http_server, call) -> None:
    http_server.json("POST", "/health", {"event_id": "h", "error_code": 0})
    result = await call(http_server.url, "health", "inst")
    assert result.healthy
    assert dict(result.error_codes) == {"*": 0}


async def test_health_with_no_workers_is_not_healthy(http_server, call) -> None:
    http_server.json("POST", "/health", {"event_id": "h", "error_codes": {}})
    assert not (await call(http_server.url, "health", "inst")).healthy


async def test_server_error_carries_the_controllers_detail(http_server, call) -> None:
    http_server.json("POST", "/clear", {"detail": "Instance ghost not found"}, status=500)
    with pytest.raises(EngineStatusError) as info:
        await call(http_server.url, "clear", "ghost")
    assert info.value.status_code == 500
    assert info.value.detail == "Instance ghost not found"
    assert str(info.value) == f"{http_server.url}/clear: HTTP 500: Instance ghost not found"


async def test_validation_error_names_the_field(http_server, call) -> None:
    fastapi_422 = {
        "detail": [
            {"type": "missing", "loc": ["body", "location"], "msg": "Field required", "input": {"instance_id": "a"}}
        ]
    }
    http_server.json("POST", "/pin", fastapi_422, status=422)
    with pytest.raises(EngineStatusError, match="HTTP 422: location: Field required"):
        await call(http_server.url, "pin", "a", [1])


async def test_plain_text_error_body(http_server, call) -> None:
    http_server.raw("POST", "/lookup", 502, b"Bad Gateway", "text/plain")
    with pytest.raises(EngineStatusError, match="HTTP 502: Bad Gateway"):
        await call(http_server.url, "lookup", [1])


async def test_malformed_json_is_a_response_error(http_server, call) -> None:
    http_server.raw("POST", "/lookup", 200, b'{"event_id": "x", "layout_info": ', "application/json")
    with pytest.raises(EngineResponseError, match="expected a JSON body"):
        await call(http_server.url, "lookup", [1])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"event_id": "x", "layout_info": [["a", "LocalCPUBackend", 3]]}, "lookup.layout_info: expected a JSON object"),
        ({"event_id": "x", "layout_info": {"a": ["LocalCPUBackend"]}}, r"lookup.layout_info\['a'\]: expected"),
        ({"event_id": "x", "layout_info": {"a": ["LocalCPUBackend", "3"]}}, r"expected \[location, token_count\]"),
        ({"layout_info": {}}, "lookup.event_id: missing from the response"),
        (["not", "an", "object"], "lookup: expected a JSON object, got list"),
    ],
)
async def test_unexpected_shapes_are_named(http_server, call, payload: Any, message: str) -> None:
    http_server.json("POST", "/lookup", payload)
    with pytest.raises(EngineResponseError, match=message):
        await call(http_server.url, "lookup", [1])


async def test_closed_port(closed_port_url: str, call) -> None:
    with pytest.raises(EngineConnectError, match="cannot connect"):
        await call(closed_port_url, "health", "inst")


async def test_hung_controller_times_out(silent_server: str, call) -> None:
    with pytest.raises(EngineTimeoutError, match=r"no answer within 0\.3s"):
        await call(silent_server, "lookup", [1, 2], timeout=0.3)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([], "tokens: expected at least one token id"),
        ("1 2 3", "tokens: expected a sequence of token ids, got str"),
        ([1, 2, -3], r"tokens\[2\]: expected a non-negative integer token id, got -3"),
        ([1, True], r"tokens\[1\]: expected a non-negative integer token id, got True"),
        ([1, 2.0], r"tokens\[1\]: expected a non-negative integer token id, got 2.0"),
    ],
)
async def test_bad_tokens_are_refused_before_sending(http_server, call, tokens: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await call(http_server.url, "lookup", tokens)
    assert http_server.received == []


async def test_bad_instance_id_is_refused(http_server, call) -> None:
    with pytest.raises(ValueError, match="instance_id: expected a non-empty string"):
        await call(http_server.url, "clear", "")


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("localhost:9000", "base_url: expected an http"),
        ("http://localhost:99999", "base_url: 'http://localhost:99999' is not a valid URL"),
        ("", "base_url: expected an http"),
    ],
)
def test_bad_base_url(base_url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LMCacheClient(base_url)


def test_bad_timeout() -> None:
    with pytest.raises(ValueError, match="timeout: expected a positive number of seconds, got -1"):
        LMCacheClient("http://127.0.0.1:9000", timeout=-1)


def test_base_url_keeps_a_path_prefix(http_server) -> None:
    http_server.json("POST", "/lmcache/health", {"event_id": "h", "error_codes": {"0": 0}})
    with LMCacheClient(http_server.url + "/lmcache/") as client:
        assert client.health("inst").healthy
    assert http_server.received[0].path == "/lmcache/health"


def test_a_given_http_client_is_left_open(http_server) -> None:
    http_server.json("POST", "/health", {"event_id": "h", "error_codes": {"0": 0}})
    with httpx.Client() as http:
        client = LMCacheClient(http_server.url, client=http)
        assert client.health("inst").healthy
        client.close()
        assert not http.is_closed
        assert json.loads(http_server.received[0].body) == {"instance_id": "inst"}
