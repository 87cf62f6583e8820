"""What every protocol module shares: the clock, the simulator, replies, ids, tenants, and the response type."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import Reply
from cachepoint.core.prompt import PrefixView, Request
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info
from cachepoint.core.simulate import ManualClock, PendingRequest, SimPrompt, Simulator
from cachepoint.core.tokens import DEFAULT_COUNTER, TokenCounter

__all__ = ["EPOCH", "Response", "Runtime", "json_body"]

#: Unix time the emulator clock's zero stands for (2026-01-01T00:00:00Z): response timestamps are
#: ``EPOCH + clock``, so they are deterministic.
EPOCH = 1_767_225_600


@dataclass
class Response:
    """An HTTP response: a whole ``body``, or ``chunks`` streamed with chunked transfer encoding.

    ``pending`` is the simulated request whose writes become readable when the first byte goes out.

    >>> json_response(404, {"error": "nope"}).headers
    {'content-type': 'application/json'}
    """

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: Callable[[], Iterable[bytes]] | None = None
    pending: PendingRequest | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(status, {"content-type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def json_body(record: RecordedRequest) -> Any:
    """The request body as JSON (raises ``ValueError`` with the parser's message when it is not).

    >>> json_body(RecordedRequest(0, "openai", "POST", "/", {}, b'{"a": 1}', 0.0))
    {'a': 1}
    """
    if not record.raw.strip():
        raise ValueError("the request body is empty")
    try:
        return json.loads(record.raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None


class Runtime:
    """The emulator's shared state, used by the protocol modules (thread-safe).

    >>> from cachepoint.core.emulator import Emulator
    >>> rt = Emulator()._runtime
    >>> rt.next_id("msg_emu_"), rt.tenant("key-1")
    ('msg_emu_000001', 'key-1')
    """

    def __init__(
        self,
        *,
        simulator: Simulator,
        clock: ManualClock,
        reply: Callable[[RecordedRequest], Reply],
        counter: TokenCounter | None,
        table: ProviderTable | None,
        tenants: Mapping[str, str] | None,
    ) -> None:
        self.simulator = simulator
        self.clock = clock
        self.counter = counter or DEFAULT_COUNTER
        self.table = table
        self.tenants = dict(tenants or {})
        self._reply = reply
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._infos: dict[tuple[str, str], ModelInfo] = {}

    def now(self) -> float:
        """The emulator clock."""
        return self.clock.now()

    def next_id(self, prefix: str) -> str:
        """A deterministic id: ``msg_emu_000001``..."""
        with self._lock:
            return f"{prefix}{next(self._ids):06d}"

    def tenant(self, credential: str) -> str:
        """The cache tenant of a credential (mapped by ``tenants=``, else the credential itself)."""
        return self.tenants.get(credential, credential)

    def info(self, provider: str, model: str, record: RecordedRequest | None = None) -> ModelInfo:
        """The provider table's rules for ``model`` (cached); an unknown model is noted on ``record``."""
        key = (provider, model)
        found = self._infos.get(key)
        if found is None:
            found = self._infos[key] = model_info(provider, model, table=self.table)
        if not found.known and record is not None:
            record.notes.append(
                f"model {model!r} is not in cachepoint's provider table: simulated with conservative defaults "
                f"(minimum {found.min_cache_tokens} tokens, TTLs {', '.join(found.ttls)}); teach it with "
                "cachepoint.core.providers.register_model(...)"
            )
        return found

    def view(self, request: Request, info: ModelInfo) -> PrefixView:
        """The request's prefix view under ``info``, counted with the emulator's counter."""
        return request.positions(info=info, counter=self.counter)

    def reply(self, record: RecordedRequest) -> Reply:
        """The reply for ``record`` (raises ``LookupError`` when a script ran out)."""
        return self._reply(record)

    def output_tokens(self, reply: Reply) -> int:
        """Tokens of a reply: its text plus each tool call's name and JSON input (or ``reply.output_tokens``)."""
        if reply.output_tokens is not None:
            return reply.output_tokens
        total = self.counter.count(reply.text)
        for call in reply.tool_calls:
            total += self.counter.count(f"{call.name} {json.dumps(dict(call.input), separators=(',', ':'))}")
        return total

    def fit(self, reply: Reply, limit: int | None) -> tuple[Reply, bool]:
        """``reply`` cut to ``limit`` output tokens (``True`` when it was cut: the stop reason is max tokens)."""
        if limit is None or self.output_tokens(reply) <= limit:
            return reply, False
        kept: list[str] = []
        used = 0
        for word in reply.text.split(" "):
            cost = self.counter.count(word)
            if used + cost > limit:
                break
            kept.append(word)
            used += cost
        return Reply(" ".join(kept), output_tokens=used), True

    def start(
        self, view: PrefixView, record: RecordedRequest, *, provider: str, model: str, output_tokens: int
    ) -> PendingRequest:
        """Start the simulated request at the clock's time, in the record's tenant's cache."""
        prompt = SimPrompt.from_view(view)
        return self.simulator.start(
            prompt,
            at=self.now(),
            tenant=record.tenant or "anonymous",
            provider=provider,
            model=model,
            output_tokens=output_tokens,
        )
