"""A proxy in front of the emulator that ends streamed answers early, cleanly: the HTTP body is whole (its
``content-length`` says so), but the stream inside stops before the events that end it (Anthropic's
``message_delta`` / ``message_stop``, OpenAI's chunk with a ``finish_reason``, Bedrock's ``messageStop``). That is
what a proxy timing out its upstream can send; the SDKs see a stream that just ends, with no error."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from types import TracebackType
from typing import Any

from cachepoint.core.emulator import Emulator

# Where a streamed answer is cut, by content type: before the first of these bytes (SSE), or before the event
# stream message holding them (Bedrock's binary event stream).
_SSE_ENDS = (b"event: message_delta", b'"finish_reason":"')


def _cut(data: bytes, kind: str) -> bytes:
    if "eventstream" in kind:
        at = data.index(b"messageStop")
        offset = 0
        while offset + int.from_bytes(data[offset : offset + 4], "big") <= at:  # each message starts with its length
            offset += int.from_bytes(data[offset : offset + 4], "big")
        return data[:offset]
    at = min(data.find(end) for end in _SSE_ENDS if end in data)
    return data[: data.rfind(b"\n\n", 0, at) + 2] if b"finish_reason" in data[at : at + 20] else data[:at]


class CuttingProxy:
    """Forwards every request to ``emulator``; the first ``cut`` streamed answers are cut (see the module)."""

    def __init__(self, emulator: Emulator, cut: int = 1) -> None:
        outer = self
        self.cut = cut

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                forwarded = urllib.request.Request(emulator.url + self.path, data=body, headers=headers)
                with urllib.request.urlopen(forwarded) as answer:
                    data, kind = answer.read(), answer.headers["content-type"]
                if ("event-stream" in kind or "eventstream" in kind) and outer.cut:
                    outer.cut -= 1
                    data = _cut(data, kind)
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
