"""`Emulator`: a local HTTP server that answers real provider SDKs with simulated prompt-cache usage.

Server stack: the standard library's ``ThreadingHTTPServer`` on a background thread, deliberately. It needs no
dependency (core must not pull in a web framework), serves sync and async clients alike (they only see a TCP
socket), speaks HTTP/1.1 keep-alive and chunked streaming, which is all the SDKs need, and starts in a few
milliseconds on port 0, so every test can have its own server. Throughput is irrelevant here: a test sends
tens of requests, not thousands per second.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from typing_extensions import Self

from cachepoint.core.emulator import anthropic, bedrock, openai
from cachepoint.core.emulator.errors import ApiError, anthropic_error, bedrock_error, openai_error
from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import ReplySource, replier
from cachepoint.core.emulator.runtime import Response, Runtime, json_response
from cachepoint.core.providers import ProviderTable
from cachepoint.core.simulate import CacheEntry, ManualClock, OpenAIOptions, Simulator
from cachepoint.core.tokens import TokenCounter

__all__ = ["Emulator"]

logger = logging.getLogger("cachepoint.emulator")

_CONTROL = "/_cachepoint/"


class Emulator:
    """A local Anthropic / Bedrock / OpenAI endpoint with realistic prompt-cache usage.

    Args:
        host, port: where to listen (port 0: a free port; see ``url``).
        reply: what to answer (a string, a `Reply`, a list of them as a script, a function of the
            `RecordedRequest`, or ``None`` to echo the last user text).
        clock: the emulator's clock (a `ManualClock` at 0 by default); TTLs run on it, never on the wall clock.
        simulator: the cache model (default: a `Simulator` on ``clock``, with ``counter``, ``table`` and
            ``openai`` options; OpenAI overflow routing is off, since a test sends many requests in one instant).
        counter: token counter (default: the offline estimator; ``count_tokens`` answers with the same counts).
        table: provider table for model rules (minimums, TTLs, breakpoint limits).
        first_byte_delay: real seconds between a request's start and its first byte, to make concurrency
            visible (entries become readable only when the writing request starts responding).
        chunk_delay: real seconds between the chunks of a streamed answer (each SSE event, each event-stream
            message), as a model generating slowly sends them: a client can stop, time out or be cancelled
            mid-stream, after the usage at the start was sent and before the end.
        tenants: maps credentials (API keys, AWS access key ids) to cache tenants, e.g. two keys of one
            Anthropic workspace to the same name; unmapped credentials are their own tenant.

    Use it as a context manager (or ``start()`` / ``close()``):

    >>> import json, urllib.request
    >>> with Emulator(reply="Hi!") as emulator:
    ...     request = urllib.request.Request(emulator.url + "/v1/messages", method="POST",
    ...         headers={"x-api-key": "k", "content-type": "application/json"},
    ...         data=json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 16,
    ...                          "messages": [{"role": "user", "content": "Hello"}]}).encode())
    ...     answer = json.load(urllib.request.urlopen(request))
    >>> answer["content"][0]["text"], emulator.requests[0].usage.cache_read_tokens
    ('Hi!', 0)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: ReplySource = None,
        clock: ManualClock | None = None,
        simulator: Simulator | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
        openai: OpenAIOptions | None = None,
        first_byte_delay: float = 0.0,
        chunk_delay: float = 0.0,
        tenants: Mapping[str, str] | None = None,
    ) -> None:
        if first_byte_delay < 0:
            raise ValueError(f"first_byte_delay: expected >= 0 seconds, got {first_byte_delay}")
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay: expected >= 0 seconds, got {chunk_delay}")
        self.clock = clock or ManualClock()
        self.simulator = simulator or Simulator(
            "anthropic",
            clock=self.clock,
            counter=counter,
            table=table,
            openai=openai or OpenAIOptions(overflow_rpm=None),
        )
        self.first_byte_delay = first_byte_delay
        self.chunk_delay = chunk_delay
        self._runtime = Runtime(
            simulator=self.simulator,
            clock=self.clock,
            reply=replier(reply),
            counter=counter,
            table=table,
            tenants=tenants,
        )
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._records: list[RecordedRequest] = []
        self._lock = threading.Lock()

    # --- lifecycle ---

    def start(self) -> Self:
        """Start serving on a background thread (idempotent)."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval: shutdown() waits up to one interval, and tests start and stop many servers.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="cachepoint-emulator", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- where clients connect ---

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: use `with Emulator() as emulator:` or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` / ``AsyncAnthropic``."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` / ``AsyncOpenAI`` (the URL plus ``/v1``)."""
        return f"{self.url}/v1"

    @property
    def bedrock_mantle_url(self) -> str:
        """``base_url`` for ``anthropic.AnthropicBedrockMantle`` (LangChain's ``ChatAnthropicMantle``): the Messages
        API under Bedrock's caching rules, as Bedrock's Mantle endpoint serves it."""
        return self.url + anthropic.MANTLE_PREFIX

    @property
    def vertex_base_url(self) -> str:
        """``base_url`` for ``anthropic.AnthropicVertex`` / ``AsyncAnthropicVertex`` (LangChain's
        ``ChatAnthropicVertex(api_endpoint=...)``): Anthropic's models as Vertex AI serves them (the URL plus
        ``/v1``; any project and region, "global" too). Pass ``access_token=`` so no Google credentials are needed.

        >>> with Emulator() as emulator:
        ...     emulator.vertex_base_url == emulator.url + "/v1"
        True
        """
        return f"{self.url}/v1"

    @property
    def bedrock_endpoint_url(self) -> str:
        """``endpoint_url`` for ``boto3.client("bedrock-runtime", ...)``."""
        return self.url

    def env(self, *, api_key: str = "cachepoint-emulator", region: str = "us-east-1") -> dict[str, str]:
        """Environment variables that point the SDKs (and frameworks built on them) at the emulator.

        >>> with Emulator() as emulator:
        ...     env = emulator.env()
        ...     same = env["OPENAI_BASE_URL"] == emulator.url + "/v1"
        >>> same, sorted(env)[:3]
        (True, ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_BEDROCK_BASE_URL'])
        """
        return {
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "ANTHROPIC_API_KEY": api_key,
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_API_KEY": api_key,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.bedrock_endpoint_url,
            "ANTHROPIC_BEDROCK_BASE_URL": self.bedrock_endpoint_url,  # anthropic.AnthropicBedrock (InvokeModel)
            "ANTHROPIC_VERTEX_BASE_URL": self.vertex_base_url,  # anthropic.AnthropicVertex
            "AWS_ACCESS_KEY_ID": api_key,
            "AWS_SECRET_ACCESS_KEY": api_key,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }

    # --- what a test inspects and controls ---

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every provider request received, in arrival order (a copy of the list)."""
        with self._lock:
            return list(self._records)

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward (TTLs expire without waiting) and return the new time."""
        return self.clock.advance(seconds)

    def cache_entries(
        self, *, provider: str | None = None, tenant: str | None = None, model: str | None = None
    ) -> list[CacheEntry]:
        """The cache entries live now, optionally filtered."""
        return self.simulator.entries(at=self.clock.now(), provider=provider, tenant=tenant, model=model)

    def reset(self) -> None:
        """Forget recorded requests and every cache entry (the clock keeps its time)."""
        with self._lock:
            self._records.clear()
        self.simulator.clear()

    # --- serving ---

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            record.index = len(self._records)
            self._records.append(record)

    def _dispatch(self, record: RecordedRequest) -> Response:
        path = record.path.split("?", 1)[0]
        if path.startswith(_CONTROL):
            return self._control(record, path[len(_CONTROL) :])
        if path.startswith("/v1/messages"):
            record.protocol, handler, error = "anthropic", anthropic.handle, _anthropic_internal
        elif path.startswith(anthropic.VERTEX_PREFIX):
            record.protocol, handler, error = "vertex", anthropic.handle, _anthropic_internal
        elif path.startswith(anthropic.MANTLE_PREFIX + "/v1/messages"):
            record.protocol, handler, error = "bedrock-mantle", anthropic.handle, _anthropic_internal
        elif path.startswith("/model/"):
            record.protocol, handler, error = "bedrock", bedrock.handle, _bedrock_internal
        elif path.startswith("/v1/"):
            record.protocol, handler, error = "openai", openai.handle, _openai_internal
        else:
            return json_response(404, {"error": {"message": f"no emulated API at {path}", "type": "not_found"}})
        self._record(record)
        try:
            response = handler(self._runtime, record)
        except ApiError as exc:
            response = json_response(exc.status, exc.body, exc.headers)
            record.error = exc.body
        except Exception as exc:  # a bug or a failing reply function: answer like the API would, and say why
            logger.exception("cachepoint emulator: error answering %s %s", record.method, path)
            failure = error(f"cachepoint emulator: {type(exc).__name__}: {exc}")
            response = json_response(failure.status, failure.body, failure.headers)
            record.error = failure.body
        record.status = response.status
        return response

    def _control(self, record: RecordedRequest, command: str) -> Response:  # noqa: PLR0911 - one per command
        if command == "health":
            return json_response(200, {"ok": True, "now": self.clock.now()})
        if command == "requests":
            return json_response(200, [_summary(r) for r in self.requests])
        if command == "cache":
            return json_response(200, [e.to_dict() for e in self.cache_entries()])
        if command == "advance" and record.method == "POST":
            try:
                seconds = float(json.loads(record.raw or b"{}").get("seconds", 0))
                now = self.advance(seconds)
            except (ValueError, TypeError, AttributeError) as exc:
                return json_response(400, {"error": {"message": f"advance: {exc}", "type": "invalid_request"}})
            return json_response(200, {"now": now})
        if command == "reset" and record.method == "POST":
            self.reset()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": {"message": f"unknown control command {command!r}", "type": "not_found"}})


def _anthropic_internal(message: str) -> ApiError:
    return anthropic_error(500, "api_error", message)


def _bedrock_internal(message: str) -> ApiError:
    return bedrock_error(500, "InternalServerException", message)


def _openai_internal(message: str) -> ApiError:
    return openai_error(500, message, kind="server_error")


def _summary(record: RecordedRequest) -> dict[str, Any]:
    usage = record.usage
    return {
        "index": record.index,
        "protocol": record.protocol,
        "operation": record.operation,
        "path": record.path,
        "at": record.at,
        "tenant": record.tenant,
        "model": record.model,
        "stream": record.stream,
        "status": record.status,
        "usage": usage.to_dict() if usage is not None else None,
        "native_usage": record.native_usage,
        "error": record.error,
        "notes": record.notes,
    }


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cachepoint-emulator"
        timeout = 120

        def _serve(self) -> None:
            raw = self._read_body()
            if raw is None:
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            record = RecordedRequest(0, "", self.command, self.path, headers, raw, emulator.clock.now())
            response = emulator._dispatch(record)
            if response.pending is not None:
                if emulator.first_byte_delay:
                    time.sleep(emulator.first_byte_delay)
                response.pending.respond(at=emulator.clock.now())
            self._write(response)

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server's naming

        def _read_body(self) -> bytes | None:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                self.send_error(400, "bad Content-Length")
                return None
            return self.rfile.read(length) if length else b""

        def _write(self, response: Response) -> None:
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.chunks is None:
                    self.send_header("content-length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                    return
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for n, chunk in enumerate(response.chunks()):
                    if n and emulator.chunk_delay:
                        time.sleep(emulator.chunk_delay)
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):  # the client went away mid-response
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s - %s", self.address_string(), format % args)

    return Handler
