"""Fixtures for the usage tests: a local HTTP server that answers real SDK clients with canned responses.

The provider SDKs (anthropic, openai, boto3) are pointed at it with ``base_url`` / ``endpoint_url``, so the
objects the tests normalize are the ones the SDKs really build from the wire: parsed SSE events, botocore's
decoded event streams, pydantic response models. Nothing reaches a real provider.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cachepoint.core.emulator.eventstream import encode_events


@dataclass
class Canned:
    body: bytes
    content_type: str
    status: int = 200


@dataclass
class CannedServer:
    """Answers ``POST <path>`` (percent-decoded) with the response registered for it (404 otherwise)."""

    base_url: str
    responses: dict[str, Canned] = field(default_factory=dict)
    requests: list[tuple[str, bytes]] = field(default_factory=list)

    def respond(self, path: str, body: bytes | str | dict[str, Any], content_type: str = "application/json") -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.responses[path] = Canned(body, content_type)


@pytest.fixture
def canned_server() -> Iterator[CannedServer]:
    server_state: dict[str, CannedServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state = server_state["s"]
            length = int(self.headers.get("content-length") or 0)
            state.requests.append((self.path, self.rfile.read(length)))
            path = urllib.parse.unquote(self.path.split("?", 1)[0])
            canned = state.responses.get(path)
            if canned is None:
                self.send_response(404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message": "no canned response"}')
                return
            self.send_response(canned.status)
            self.send_header("content-type", canned.content_type)
            self.send_header("content-length", str(len(canned.body)))
            self.end_headers()
            self.wfile.write(canned.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = CannedServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    server_state["s"] = state
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def aws_event_stream() -> Callable[[list[tuple[str, dict[str, Any]]]], bytes]:
    """Encode ``[(event_type, payload), ...]`` as an ``application/vnd.amazon.eventstream`` body (the emulator's
    encoder, which ConverseStream uses at run time)."""

    def encode(events: list[tuple[str, dict[str, Any]]]) -> bytes:
        return encode_events(events)

    return encode


@pytest.fixture
def sse() -> Callable[[list[dict[str, Any]], bool], str]:
    """Encode events as server-sent events (``event:`` from each event's ``type``; ``[DONE]`` if asked)."""

    def encode(events: list[dict[str, Any]], done: bool = False) -> str:
        parts = []
        for event in events:
            kind = event.get("type")
            head = f"event: {kind}\n" if isinstance(kind, str) else ""
            parts.append(f"{head}data: {json.dumps(event)}\n\n")
        if done:
            parts.append("data: [DONE]\n\n")
        return "".join(parts)

    return encode


@pytest.fixture
def bedrock_client(canned_server: CannedServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real boto3 ``bedrock-runtime`` client whose endpoint is the canned server (dummy credentials)."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=canned_server.base_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
