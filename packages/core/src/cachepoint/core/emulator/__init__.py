"""A local provider emulator: real SDK clients get realistic prompt-cache usage, with no network.

`Emulator` is an HTTP server on 127.0.0.1 that speaks Anthropic Messages (``/v1/messages``, JSON and SSE,
``/v1/messages/count_tokens``), Bedrock Converse, ConverseStream and CountTokens (``/model/{id}/converse``,
``/converse-stream``, AWS event stream, ``/count-tokens``) and OpenAI Chat Completions (``/v1/chat/completions``,
JSON and SSE).
Every response's usage comes from `cachepoint.core.simulate`, per tenant (API key / AWS access key) and model,
on a clock the test controls; requests the real APIs reject (five cache breakpoints, a marker on a thinking
block, a TTL out of order, malformed JSON) get the real status code and error shape. Point the SDKs at it with
``base_url`` / ``endpoint_url`` and assert that your prompts hit the cache:

>>> import json, urllib.request
>>> system = [{"type": "text", "text": "You answer from the manual. " * 300, "cache_control": {"type": "ephemeral"}}]
>>> body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "system": system,
...                    "messages": [{"role": "user", "content": "Hi"}]}).encode()
>>> with Emulator() as emulator:
...     for _ in range(2):
...         _ = urllib.request.urlopen(urllib.request.Request(emulator.url + "/v1/messages", data=body,
...             headers={"x-api-key": "test", "content-type": "application/json"}))
...     first, second = (r.usage for r in emulator.requests)
>>> first.cache_write_tokens > 0, second.cache_read_tokens == first.cache_write_tokens
(True, True)

For pytest, list ``"cachepoint.core.emulator.pytest_plugin"`` in ``pytest_plugins`` and take the
``cachepoint_emulator`` fixture. ``cachepoint emulate --port 0`` runs one from the command line.
"""

from cachepoint.core.emulator.errors import ApiError
from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import Reply, ReplySource, ToolCall, echo, script
from cachepoint.core.emulator.server import Emulator

__all__ = ["ApiError", "Emulator", "RecordedRequest", "Reply", "ReplySource", "ToolCall", "echo", "script"]
