"""Token counting: the offline estimator, media rules, and the adapters for real tokenizers."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachepoint.core.tokens import (
    DOCUMENT_PAGE_TOKENS,
    AnthropicCountTokens,
    EstimateCounter,
    TiktokenCounter,
    TokenCounter,
    TokenizersCounter,
    document_tokens,
    image_size,
    image_tokens,
)

# --- the estimator -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("The quick brown fox", 4),  # four short words; single spaces merge into the next word
        ("internationalization", 4),  # 20 letters: 1 + ceil((20 - 8) / 5)
        ("getUserAccountId", 4),  # camelCase splits: get, User, Account, Id
        ("12345678", 3),  # digits in threes
        ("東京タワー", 5),  # one token per CJK character
        ('{"a": 1}', 5),  # '{"' a '":' 1 '}'
        ("héllo", 3),  # h, é+llo as accented letters: ceil(4 / 2.5) = 2
        ("a\n\nb", 3),  # a, the newline run, b
        ("    indented", 2),  # an indentation run costs half a token: 0.5 + 1 rounds to 2
    ],
)
def test_estimates_follow_the_documented_rule(text: str, expected: int) -> None:
    assert EstimateCounter().count(text) == expected


@given(st.text(max_size=300), st.text(max_size=300))
def test_estimates_are_deterministic_and_grow_with_text(a: str, b: str) -> None:
    counter = EstimateCounter()
    assert counter.count(a) == EstimateCounter().count(a)
    # Concatenation can merge the pieces at the seam, but never loses more than a couple of tokens.
    assert counter.count(a + "\n" + b) >= max(counter.count(a), counter.count(b)) - 1


def test_json_and_code_cost_more_per_character_than_prose() -> None:
    counter = EstimateCounter()
    prose = "The refund policy covers returns within thirty days of purchase for unused items."
    code = "def f(x):\n    return {'a': [x[0], x[1]], 'b': (x[2] or 0) * 3}\n"
    assert counter.count(code) / len(code) > counter.count(prose) / len(prose)


def test_the_counter_is_a_token_counter() -> None:
    assert isinstance(EstimateCounter(), TokenCounter)


# --- images and documents -----------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(header)) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _webp(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


@pytest.mark.parametrize("make", [_png, _gif, _jpeg, _webp])
def test_image_size_reads_headers(make: Any) -> None:
    data = make(640, 480)
    assert image_size(data) == (640, 480)
    assert image_size(base64.b64encode(data).decode()) == (640, 480)


def test_image_size_of_something_else_is_none() -> None:
    assert image_size(b"%PDF-1.7") is None
    assert image_size("not base64 at all!") is None


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((200, 200), 54),  # 40000 / 750 = 53.3
        ((1092, 1092), 1590),  # Anthropic's table: 1092x1092 ~ 1590 tokens
        ((2000, 1000), 1600),  # scaled to 1568x784 = 1639 > 1600 cap
        ((None, None), 1600),
    ],
)
def test_image_tokens(size: tuple[Any, Any], tokens: int) -> None:
    assert image_tokens(*size) == tokens


def test_pdf_pages_are_counted() -> None:
    pdf = b"%PDF-1.4\n" + b"".join(b"%d 0 obj << /Type /Page /Parent 1 0 R >> endobj\n" % i for i in range(3))
    pdf += b"1 0 obj << /Type /Pages /Count 3 >> endobj"
    assert document_tokens(pdf) == 3 * DOCUMENT_PAGE_TOKENS
    assert document_tokens(base64.b64encode(pdf).decode()) == 3 * DOCUMENT_PAGE_TOKENS


# --- tokenizers ---------------------------------------------------------------------------------------------


def test_tokenizers_counter_from_an_object_and_a_local_file(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"cache": 0, "the": 1, "prefix": 2, "[UNK]": 3}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    assert TokenizersCounter(tokenizer).count("cache the prefix twice") == 4
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    assert TokenizersCounter(path).count("cache the prefix") == 3
    with pytest.raises(FileNotFoundError):
        TokenizersCounter(tmp_path / "missing.json")


# --- tiktoken -----------------------------------------------------------------------------------------------


def test_tiktoken_counter_with_a_local_bpe_file(tmp_path: Path) -> None:
    pytest.importorskip("tiktoken")
    ranks = {bytes([i]): i for i in range(256)}
    for token in (b"he", b"ll", b"hell", b"hello"):
        ranks[token] = len(ranks)
    path = tmp_path / "tiny.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()), encoding="ascii")
    counter = TiktokenCounter(path)
    assert counter.count("hello") == 1  # h+e -> he, l+l -> ll, he+ll -> hell, hell+o -> hello
    assert counter.count("hello hello") == 3  # "hello", then " hello" = " " + "hello"
    assert counter.count("xyz") == 3  # no merges: one token per byte


# --- Anthropic count_tokens through a local server ----------------------------------------------------------


class _CountTokens(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append({"path": self.path, "body": body})
        text = "".join(
            block["text"] if isinstance(block, dict) else block
            for message in body["messages"]
            for block in (message["content"] if isinstance(message["content"], list) else [message["content"]])
        )
        reply = json.dumps({"input_tokens": 10 + len(text)}).encode()  # the real response shape
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def count_server() -> Iterator[str]:
    _CountTokens.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountTokens)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_anthropic_count_tokens_with_the_sync_client(count_server: str) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=count_server, api_key="test", max_retries=0)
    counter = AnthropicCountTokens(client, model="claude-sonnet-4-5")
    payload = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}
    assert counter.count_request(payload) == 15
    assert _CountTokens.seen[-1]["path"] == "/v1/messages/count_tokens"
    assert "max_tokens" not in _CountTokens.seen[-1]["body"]  # count_tokens takes no max_tokens
    # count(text): one request for the base ("." = 11), one for the text; memoized afterwards.
    assert counter.count("cache me") == len("cache me")
    calls = len(_CountTokens.seen)
    assert counter.count("cache me") == len("cache me")
    assert len(_CountTokens.seen) == calls


def test_anthropic_count_tokens_with_the_async_client(count_server: str) -> None:
    import anthropic

    async def main() -> tuple[int, int]:
        client = anthropic.AsyncAnthropic(base_url=count_server, api_key="test", max_retries=0)
        counter = AnthropicCountTokens(client, model="claude-sonnet-4-5")
        total = await counter.acount_request({"messages": [{"role": "user", "content": "abc"}]})
        return total, await counter.acount("twelve chars")

    assert asyncio.run(main()) == (13, 12)


def test_anthropic_counter_needs_a_client() -> None:
    with pytest.raises(TypeError, match=r"anthropic\.Anthropic"):
        AnthropicCountTokens(object(), model="m")


def test_sync_count_on_an_async_client_says_so(count_server: str) -> None:
    import anthropic

    counter = AnthropicCountTokens(anthropic.AsyncAnthropic(base_url=count_server, api_key="t"), model="m")
    with pytest.raises(TypeError, match=r"acount_request"):
        counter.count_request({"messages": []})


def test_anthropic_counter_keeps_the_texts_it_is_asked_for_again(count_server: str) -> None:
    # A memo of 3 texts: the system prompt, counted before every new message, must stay in it (least recently
    # used goes first) instead of being dropped for being the oldest, which costs a paid API call each time.
    import anthropic

    client = anthropic.Anthropic(base_url=count_server, api_key="test", max_retries=0)
    counter = AnthropicCountTokens(client, model="claude-sonnet-4-5", cache_size=3)
    assert counter.count("system prompt") == len("system prompt")
    for n in range(6):
        calls = len(_CountTokens.seen)
        assert counter.count("system prompt") == len("system prompt")
        assert len(_CountTokens.seen) == calls, f"turn {n}: the system prompt was counted again"
        counter.count(f"message {n}")
