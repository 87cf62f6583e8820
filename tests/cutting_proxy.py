"""A proxy in front of the emulator that ends streamed answers early, cleanly: the HTTP body is whole (its
``content-length`` says so), but the stream inside stops before the events that end it (Anthropic's
``message_delta`` / ``message_stop``, OpenAI's chunk with a ``finish_reason``, Bedrock's ``messageStop``). That is
what a proxy timing out its upstream can send; the SDKs see a stream that just ends, with no error.

``at="last"`` cuts later: only the last event of the answer is lost (Anthropic's ``message_stop``, OpenAI's usage
chunk when the request asked for one, else its chunk with the ``finish_reason``; Bedrock's ``metadata``), and
OpenAI's ``data: [DONE]``: a stream that has its stop reason but not what the provider sends after it."""

from __future__ import annotations

import urllib.request

from cachepoint.core.emulator import Emulator
from local_http import LocalHTTPServer

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


def _cut_last(data: bytes, kind: str) -> bytes:
    if "eventstream" in kind:
        offset = last = 0
        while offset < len(data):
            last, offset = offset, offset + int.from_bytes(data[offset : offset + 4], "big")
        return data[:last]
    events = [event for event in data.split(b"\n\n") if event.strip() and event.strip() != b"data: [DONE]"]
    return b"".join(event + b"\n\n" for event in events[:-1])


class CuttingProxy(LocalHTTPServer):
    """Forwards every request to ``emulator``; the first ``cut`` streamed answers are cut (see the module): before
    the events that end them, or with ``at="last"`` just before their last one."""

    def __init__(self, emulator: Emulator, cut: int = 1, at: str = "end") -> None:
        self.cut = cut

        def answer(path: str, headers: dict[str, str], body: bytes) -> tuple[str, bytes]:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            with urllib.request.urlopen(urllib.request.Request(emulator.url + path, data=body, headers=sent)) as got:
                data, kind = got.read(), got.headers["content-type"]
            if ("event-stream" in kind or "eventstream" in kind) and self.cut:
                self.cut -= 1
                data = _cut_last(data, kind) if at == "last" else _cut(data, kind)
            return kind, data

        super().__init__(answer)
