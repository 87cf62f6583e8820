"""Real local servers for the engine tests: an HTTP server on 127.0.0.1, a server that never answers, a closed port.

`http_server` serves canned responses per (method, path) from a stdlib ``ThreadingHTTPServer`` in a thread and
records every request it received. Responses for a route are served in order (the last one repeats), so a test
can make an engine's counters grow -- or reset -- between two scrapes.

`vllm_metrics` / `sglang_metrics` build /metrics bodies the way the engines do: with ``prometheus_client``
(which both engines use), with the metric names, label names and documentation strings of
``vllm/v1/metrics/loggers.py`` and ``sglang/srt/metrics/collector.py``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 with canned replies; ``url`` is its base URL."""

    url: str
    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        with self.lock:
            self.routes[(method, path)] = list(replies)

    def raw(self, method: str, path: str, status: int, body: bytes, content_type: str) -> None:
        self.reply(method, path, Reply(status, body, content_type))

    def json(self, method: str, path: str, payload: Any, status: int = 200) -> None:
        self.reply(method, path, Reply(status, json.dumps(payload).encode()))

    def text(self, path: str, *bodies: str, content_type: str = "text/plain; version=0.0.4; charset=utf-8") -> None:
        self.reply("GET", path, *(Reply(200, body.encode(), content_type) for body in bodies))

    def next_reply(self, method: str, path: str) -> Reply:
        with self.lock:
            queue = self.routes.get((method, path))
            if not queue:
                return Reply(404, json.dumps({"detail": "Not Found"}).encode())
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with server.lock:
                server.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
            reply = server.next_reply(self.command, self.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A local HTTP server; configure replies with ``reply`` / ``json`` / ``text``."""
    server = LocalServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="engines-test-http", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Base URL of a TCP server that accepts connections and never sends a byte (a hung engine)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # keep it open, read nothing, answer nothing

    thread = threading.Thread(target=accept, name="engines-test-silent", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=10)
        for conn in held:
            conn.close()
        listener.close()


@pytest.fixture
def closed_port_url() -> str:
    """Base URL of a port on 127.0.0.1 where nothing listens (bound once to pick it, then closed)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


# -- Prometheus bodies built the way the engines build them --------------------------------------------------

VLLM_LABELS = ["model_name", "engine"]


def _vllm_text(
    model: str = "Qwen/Qwen3-8B",
    engines: Mapping[int, Mapping[str, float]] | None = None,
    *,
    omit: tuple[str, ...] = (),
    deprecated: bool = False,
    cache_config: Mapping[str, str] | None = None,
    created: float | None = None,
) -> str:
    """A vLLM V1 /metrics body. ``engines`` maps a data-parallel engine index to counter values by short name:
    prompt_tokens, generation_tokens, prompt_tokens_cached, local_compute, local_cache_hit, external_kv_transfer,
    prefix_cache_queries, prefix_cache_hits, external_prefix_cache_queries, external_prefix_cache_hits,
    requests_stop, requests_length, kv_cache_usage_perc. Names in ``omit`` are left out of the exposition.
    """
    registry = CollectorRegistry()
    engines = engines if engines is not None else {0: {}}

    def counter(name: str, doc: str, extra: list[str] | None = None) -> Counter | None:
        if name in omit:
            return None
        return Counter(name, doc, labelnames=VLLM_LABELS + (extra or []), registry=registry)

    prompt = counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
    generation = counter("vllm:generation_tokens", "Number of generation tokens processed.")
    cached = counter("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).")
    by_source = counter("vllm:prompt_tokens_by_source", "Number of prompt tokens by source.", ["source"])
    queries = counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.")
    hits = counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.")
    ext_queries = counter(
        "vllm:external_prefix_cache_queries",
        "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of "
        "queried tokens.",
    )
    ext_hits = counter(
        "vllm:external_prefix_cache_hits",
        "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of "
        "cached tokens.",
    )
    success = counter("vllm:request_success", "Count of successfully processed requests.", ["finished_reason"])
    gpu_queries = gpu_hits = None
    if deprecated:
        gpu_queries = Counter(
            "vllm:gpu_prefix_cache_queries",
            "GPU prefix cache queries, in terms of number of queried tokens. DEPRECATED",
            labelnames=VLLM_LABELS,
            registry=registry,
        )
        gpu_hits = Counter(
            "vllm:gpu_prefix_cache_hits",
            "GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED",
            labelnames=VLLM_LABELS,
            registry=registry,
        )
    usage = None
    if "vllm:kv_cache_usage_perc" not in omit:
        usage = Gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            labelnames=VLLM_LABELS,
            registry=registry,
        )
    running = Gauge(
        "vllm:num_requests_running", "Number of requests in model execution batches.", VLLM_LABELS, registry=registry
    )
    ttft = Histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        VLLM_LABELS,
        buckets=[0.01, 0.1, 1.0],
        registry=registry,
    )
    if cache_config is not None:
        names = [*cache_config, "engine"]
        info = Gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", names, registry=registry)
        for index in engines:
            info.labels(**cache_config, engine=str(index)).set(1)

    def bump(metric: Counter | None, labels: tuple[str, ...], values: Mapping[str, float], key: str) -> None:
        if metric is None:
            return
        child = metric.labels(*labels)  # created at 0 even when unused, as vLLM pre-creates its children
        if values.get(key):
            child.inc(values[key])

    for index, values in engines.items():
        labels = (model, str(index))

        bump(prompt, labels, values, "prompt_tokens")
        bump(generation, labels, values, "generation_tokens")
        bump(cached, labels, values, "prompt_tokens_cached")
        for source in ("local_compute", "local_cache_hit", "external_kv_transfer"):
            bump(by_source, (*labels, source), values, source)
        bump(queries, labels, values, "prefix_cache_queries")
        bump(hits, labels, values, "prefix_cache_hits")
        bump(gpu_queries, labels, values, "prefix_cache_queries")
        bump(gpu_hits, labels, values, "prefix_cache_hits")
        bump(ext_queries, labels, values, "external_prefix_cache_queries")
        bump(ext_hits, labels, values, "external_prefix_cache_hits")
        bump(success, (*labels, "stop"), values, "requests_stop")
        bump(success, (*labels, "length"), values, "requests_length")
        if usage is not None:
            usage.labels(*labels).set(values.get("kv_cache_usage_perc", 0.0))
        running.labels(*labels).set(1)
        ttft.labels(*labels).observe(0.05)
    if created is not None:
        _force_created(registry, created)
    return generate_latest(registry).decode()


def _force_created(registry: CollectorRegistry, created: float) -> None:
    """Pretend every counter child was created at ``created`` (the engine process start time)."""
    for collector in list(registry._collector_to_names):
        for child in getattr(collector, "_metrics", {}).values():
            if hasattr(child, "_created"):
                child._created = created


def _sglang_text(
    model: str = "meta-llama/Llama-3.1-8B-Instruct",
    *,
    prompt_tokens: float = 0.0,
    generation_tokens: float = 0.0,
    cached_by_source: Mapping[str, float] | None = None,
    cached_tokens: float | None = None,
    requests: float = 0.0,
    cache_hit_rate: float | None = None,
    token_usage: float = 0.0,
    created: float | None = None,
) -> str:
    """An SGLang /metrics body. ``cached_by_source`` uses the newer ``cache_source`` label; ``cached_tokens``
    the older unlabelled counter. Labels as SGLang sets them (model_name, engine_type, tp_rank, pp_rank)."""
    registry = CollectorRegistry()
    labels = {"model_name": model, "engine_type": "unified", "tp_rank": "0", "pp_rank": "0"}
    names = list(labels)
    Counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.", names, registry=registry).labels(
        **labels
    ).inc(prompt_tokens)
    Counter(
        "sglang:generation_tokens_total", "Number of generation tokens processed.", names, registry=registry
    ).labels(**labels).inc(generation_tokens)
    if cached_by_source is not None:
        by_source = Counter(
            "sglang:cached_tokens_total",
            "Number of cached prompt tokens by source (device/host/storage).",
            [*names, "cache_source"],
            registry=registry,
        )
        for source, value in cached_by_source.items():
            by_source.labels(**labels, cache_source=source).inc(value)
    elif cached_tokens is not None:
        Counter("sglang:cached_tokens_total", "Number of cached prompt tokens.", names, registry=registry).labels(
            **labels
        ).inc(cached_tokens)
    Counter("sglang:num_requests_total", "Number of requests processed.", names, registry=registry).labels(
        **labels
    ).inc(requests)
    if cache_hit_rate is not None:
        Gauge("sglang:cache_hit_rate", "The prefix cache hit rate.", names, registry=registry).labels(**labels).set(
            cache_hit_rate
        )
    Gauge("sglang:token_usage", "The token usage.", names, registry=registry).labels(**labels).set(token_usage)
    if created is not None:
        _force_created(registry, created)
    return generate_latest(registry).decode()


@pytest.fixture
def vllm_metrics() -> Callable[..., str]:
    """Build a vLLM /metrics body (see `_vllm_text`)."""
    return _vllm_text


@pytest.fixture
def sglang_metrics() -> Callable[..., str]:
    """Build an SGLang /metrics body (see `_sglang_text`)."""
    return _sglang_text
