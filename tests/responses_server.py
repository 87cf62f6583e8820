"""A local OpenAI Responses API (``POST /v1/responses``) for tests of real ``openai`` clients: the emulator does not
speak it. It answers every request with the same response, as JSON or as the API's SSE event stream (with
``"stream": true``), in the shapes the API sends, and counts the requests it answered.
"""

from __future__ import annotations

from typing import Any

import orjson

from local_http import LocalHTTPServer

RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1767225600,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Paris.", "annotations": [], "logprobs": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "temperature": 0.0,
    "top_p": 1.0,
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "metadata": {},
    "usage": {
        "input_tokens": 5,
        "output_tokens": 2,
        "total_tokens": 7,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}


def response_events() -> list[dict[str, Any]]:
    started = {**RESPONSE, "status": "in_progress", "output": [], "usage": None}
    item = {**RESPONSE["output"][0], "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **at, "part": part},
        {"type": "response.output_text.delta", **at, "delta": "Par", "logprobs": []},
        {"type": "response.output_text.delta", **at, "delta": "is.", "logprobs": []},
        {"type": "response.output_text.done", **at, "text": "Paris.", "logprobs": []},
        {"type": "response.content_part.done", **at, "part": RESPONSE["output"][0]["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": RESPONSE["output"][0]},
        {"type": "response.completed", "response": RESPONSE},
    ]
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


class ResponsesServer(LocalHTTPServer):
    """``POST /v1/responses`` as the API answers it, JSON or SSE; counts the requests it answers."""

    def __init__(self) -> None:
        self.requests = 0
        #: The request bodies answered, in order.
        self.bodies: list[dict[str, Any]] = []

        def answer(path: str, headers: dict[str, str], raw: bytes) -> tuple[str, bytes]:
            body = orjson.loads(raw)
            self.requests += 1
            self.bodies.append(body)
            if body.get("stream"):
                events = response_events()
                return "text/event-stream", b"".join(
                    b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
                )
            return "application/json", orjson.dumps(RESPONSE)

        super().__init__(answer)
        self.base_url = f"{self.url}/v1"
