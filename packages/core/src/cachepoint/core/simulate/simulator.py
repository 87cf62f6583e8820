"""`Simulator`: one provider cache model for every tenant and model, on a clock the caller controls.

Caches are partitioned by provider, tenant (an API key, a workspace, an AWS account) and model: one tenant
never reads another's entries, and neither does another model. A request is two events: it *starts* (the
lookup happens and its usage is known) and later *starts responding* (its writes become readable).
`Simulator.request` does both (``first_byte_at`` defaults to the start, or is applied in time order when the
clock passes it); `Simulator.start` returns a `PendingRequest` to respond to yourself.

Thread-safe (one lock), so the emulator's server threads can share one simulator.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from cachepoint.core.providers import ModelInfo, ProviderTable, model_info, normalize_provider
from cachepoint.core.simulate.automatic import AutomaticEntry, AutomaticRouter, OpenAIOptions, lookup_automatic
from cachepoint.core.simulate.breakpoints import BreakpointRules, BreakpointStore, plan_breakpoints
from cachepoint.core.simulate.clock import Clock
from cachepoint.core.simulate.engine import EngineCache, TokenPrompt, prompt_block_keys, token_block_keys
from cachepoint.core.simulate.prompt import SimPrompt
from cachepoint.core.simulate.result import _EMPTY as _NO_WRITES
from cachepoint.core.simulate.result import CacheEntry, Mode, SimResult, new_result

if TYPE_CHECKING:
    from cachepoint.core.prompt import PrefixView, Request
    from cachepoint.core.tokens import TokenCounter

__all__ = ["EngineOptions", "PendingRequest", "PromptLike", "Simulator", "SimulatorHeld"]

#: What `Simulator.request` accepts: a `SimPrompt`, a `PrefixView`, a `Request`, a provider payload, or token
#: ids (`TokenPrompt`, engine providers only).
PromptLike = Union[SimPrompt, "PrefixView", "Request", Mapping[str, Any], TokenPrompt]

_BREAKPOINT_PROVIDERS = ("anthropic", "bedrock")
_ENGINE_PROVIDERS = ("vllm", "sglang")
# Lifetimes of TTL labels the breakpoint model meets (others are parsed from their label).
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0, "30m": 1800.0, "12h": 43_200.0}
# Provider names already checked, and their canonical form (a trace replay names the provider per request).
_CHECKED: dict[str, str] = {}
#: What `Simulator._start` returns: the request's result and what its first byte writes (``None``: nothing).
_Started = tuple[SimResult, "Callable[[float], None] | None"]


@dataclass(frozen=True)
class EngineOptions:
    """The engine model's shape: tokens per block and capacity (``None``: unbounded).

    >>> EngineOptions(block_size=32, capacity_blocks=10_000).block_size
    32
    """

    block_size: int = 16
    capacity_blocks: int | None = None


@dataclass(frozen=True)
class SimulatorHeld:
    """What a `Simulator` holds now (`Simulator.held`): counts, to check that a long replay stays bounded.

    ``partitions``: cache partitions (provider, tenant, model; one per routing bucket for OpenAI's explicit
    breakpoints); ``entries``: stored breakpoint entries, OpenAI prefixes and engine blocks, expired ones not yet
    swept included; ``routes``: OpenAI machines holding prefixes and routes with arrivals in the last minute.

    >>> Simulator("anthropic").held()
    SimulatorHeld(partitions=0, entries=0, routes=0)
    """

    partitions: int
    entries: int
    routes: int


@dataclass
class _Partition:
    mode: Mode
    breakpoints: BreakpointStore | None = None
    router: AutomaticRouter | None = None
    engine: EngineCache | None = None
    # Every entry of a breakpoint store expires by ``last_at + longest``: the latest start of a request in it plus
    # the longest lifetime written there (a write or a refresh happens at a request's start, for at most that).
    last_at: float = -math.inf
    longest: float = 0.0


class _Call(NamedTuple):
    at: float
    tenant: str
    provider: str
    model: str | None
    output_tokens: int


@dataclass(frozen=True)
class _Rules:
    mode: Mode
    info: ModelInfo | None
    breakpoints: BreakpointRules | None = None


@dataclass(eq=False)
class PendingRequest:
    """A started request whose writes wait for its first byte (see `Simulator.start`).

    >>> from cachepoint.core.simulate import SimPrompt, SimBreakpoint, Simulator
    >>> sim = Simulator("anthropic")
    >>> p = SimPrompt(("doc",), (3000,), breakpoints=(SimBreakpoint(0),), model="claude-sonnet-4-5")
    >>> a, b = sim.start(p, at=0), sim.start(p, at=1)  # b starts before a responds: both write
    >>> a.respond(at=2); b.respond(at=3)
    >>> a.result.write_tokens, b.result.write_tokens, sim.request(p, at=4).read_tokens
    (3000, 3000, 3000)
    """

    result: SimResult
    _simulator: Simulator = field(repr=False)
    _apply: Any = field(repr=False, default=None)
    done: bool = False

    def respond(self, *, at: float | None = None) -> None:
        """The request starts responding at ``at`` (default: the simulator's clock): its writes become readable."""
        self._simulator._respond(self, at)

    def cancel(self) -> None:
        """The request failed before responding: nothing it would have written is stored."""
        with self._simulator._lock:
            self.done = True


class Simulator:
    """The provider cache model. ``provider`` is the default for calls that name none.

    Args:
        provider: ``anthropic``, ``bedrock``, ``openai``, ``vllm`` or ``sglang`` (aliases such as
            ``aws.bedrock`` work).
        clock: where ``at`` comes from when a call omits it (a `ManualClock`, a trace's clock...). Without one,
            every call must pass ``at``.
        table: the provider table for model rules (default: the built-in one).
        counter: token counter for payloads parsed here (default: the offline estimator).
        openai: options of the OpenAI model; ``engine``: options of the engine model.

    >>> sim = Simulator("anthropic")
    >>> payload = {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": [{"type": "text",
    ...     "text": "You answer from the manual. " * 300, "cache_control": {"type": "ephemeral"}}],
    ...     "messages": [{"role": "user", "content": "How do I reset it?"}]}
    >>> cold = sim.request(payload, at=0.0, tenant="key-1")
    >>> warm = sim.request(payload, at=60.0, tenant="key-1")
    >>> other = sim.request(payload, at=60.0, tenant="key-2")
    >>> cold.write_tokens > 1024, warm.read_tokens == cold.write_tokens, other.read_tokens
    (True, True, 0)
    >>> sim.request(payload, at=60.0 + 301, tenant="key-1").read_tokens  # 5 minutes after its last use
    0
    """

    def __init__(
        self,
        provider: str = "anthropic",
        *,
        clock: Clock | None = None,
        table: ProviderTable | None = None,
        counter: TokenCounter | None = None,
        openai: OpenAIOptions | None = None,
        engine: EngineOptions | None = None,
    ) -> None:
        self.provider = self._check_provider(provider)
        self.clock = clock
        self.table = table
        self.counter = counter
        self.openai = openai or OpenAIOptions()
        self.engine = engine or EngineOptions()
        self._lock = threading.RLock()
        self._partitions: dict[tuple[str, str, str], _Partition] = {}
        self._rules: dict[tuple[str, str, str | None], _Rules] = {}
        self._routers: dict[tuple[str, str], AutomaticRouter] = {}  # OpenAI explicit-breakpoint routing
        self._scheduled: list[tuple[float, int, PendingRequest]] = []
        self._sequence = itertools.count()
        self._since_sweep = 0  # requests started since `_sweep` last ran

    # --- public API ---

    def prompt(self, prompt: PromptLike, *, provider: str | None = None, model: str | None = None) -> SimPrompt:
        """``prompt`` as a `SimPrompt` for ``provider`` (payloads are parsed, views read).

        >>> Simulator("openai").prompt({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}).format
        'openai-chat'
        """
        if isinstance(prompt, TokenPrompt):
            raise TypeError("prompt: token ids have no positions; pass them to request() for an engine provider")
        provider = self._check_provider(provider) if provider else self.provider
        return self._coerce(prompt, provider, model)

    def start(
        self,
        prompt: PromptLike,
        *,
        at: float | None = None,
        tenant: str = "default",
        provider: str | None = None,
        model: str | None = None,
        output_tokens: int = 0,
    ) -> PendingRequest:
        """Start a request at ``at``: look it up, refresh what it hits, and return its pending writes.

        Its usage is final (``pending.result``); its writes become readable on ``pending.respond(at=...)``.
        """
        provider = self._check_provider(provider) if provider else self.provider
        if output_tokens < 0:
            raise ValueError(f"output_tokens: expected >= 0, got {output_tokens}")
        with self._lock:
            now = self._time(at)
            self._flush(now)
            result, apply = self._start(prompt, _Call(now, tenant, provider, model, output_tokens))
            return PendingRequest(result, self, apply)

    def request(
        self,
        prompt: PromptLike,
        *,
        at: float | None = None,
        first_byte_at: float | None = None,
        tenant: str = "default",
        provider: str | None = None,
        model: str | None = None,
        output_tokens: int = 0,
    ) -> SimResult:
        """Simulate one request that starts at ``at`` and starts responding at ``first_byte_at``.

        ``first_byte_at`` defaults to ``at`` (the writes are readable by the next request). A later
        ``first_byte_at`` is applied when a later call's time passes it, so a trace replayed in start order
        with each request's time to first token models concurrent requests faithfully.
        """
        provider = self._check_provider(provider) if provider else self.provider
        if output_tokens < 0:
            raise ValueError(f"output_tokens: expected >= 0, got {output_tokens}")
        with self._lock:  # `start` and `PendingRequest.respond` in one hold of the lock
            now = at if type(at) is float else self._time(at)  # a trace replay passes floats: no checks to make
            scheduled = self._scheduled
            if scheduled and scheduled[0][0] <= now:
                self._flush(now)
            result, apply = self._start(prompt, _Call(now, tenant, provider, model, output_tokens))
            if apply is not None:
                if first_byte_at is None or first_byte_at <= now:
                    apply(now)
                else:
                    pending = PendingRequest(result, self, apply)
                    heapq.heappush(self._scheduled, (first_byte_at, next(self._sequence), pending))
        return result

    def advance(self, to: float) -> None:
        """Apply every scheduled first byte up to time ``to`` (a call with a later ``at`` does this itself)."""
        with self._lock:
            self._flush(to)

    def entries(
        self,
        *,
        at: float | None = None,
        provider: str | None = None,
        tenant: str | None = None,
        model: str | None = None,
        live_only: bool = True,
    ) -> list[CacheEntry]:
        """The cache's entries (live at ``at`` unless ``live_only=False``), filtered by provider/tenant/model.

        Breakpoint providers list one entry per written breakpoint; OpenAI's automatic cache one per cached
        prompt (``tokens`` = the cached prefix, whole 128-token increments); engines list nothing here.

        >>> from cachepoint.core.simulate import SimPrompt, SimBreakpoint
        >>> sim = Simulator("anthropic")
        >>> _ = sim.request(SimPrompt(("s",), (2048,), breakpoints=(SimBreakpoint(0, "1h"),),
        ...                           model="claude-sonnet-4-5"), at=0)
        >>> [(e.tokens, e.ttl, e.expires_at) for e in sim.entries(at=0)]
        [(2048, '1h', 3600.0)]
        """
        wanted_provider = self._check_provider(provider) if provider else None
        with self._lock:
            now = self._time(at) if (at is not None or self.clock is not None) else None
            if now is not None:
                self._flush(now)
            out: list[CacheEntry] = []
            for (prov, ten, mod), part in self._partitions.items():
                if (wanted_provider and prov != wanted_provider) or (tenant and ten != tenant):
                    continue
                if model and mod != model:
                    continue
                out.extend(self._snapshot(prov, ten, mod, part))
        if live_only and now is not None:
            out = [e for e in out if e.live(now)]
        return out

    def clear(self) -> None:
        """Forget every entry and every scheduled write."""
        with self._lock:
            self._partitions.clear()
            self._routers.clear()
            self._scheduled.clear()

    def held(self) -> SimulatorHeld:
        """How much the simulator holds now: partitions, entries and routes (see `SimulatorHeld`).

        Expired entries are dropped in sweeps as requests come (each costing about as much as the writes since
        the last one), so a long replay holds about one lifetime of traffic, not the whole of it.

        >>> from cachepoint.core.simulate import SimPrompt, SimBreakpoint
        >>> sim = Simulator("anthropic")
        >>> prompt = SimPrompt(("s",), (2048,), breakpoints=(SimBreakpoint(0),), model="claude-sonnet-4-5")
        >>> _ = sim.request(prompt, at=0)
        >>> sim.held()
        SimulatorHeld(partitions=1, entries=1, routes=0)
        """
        with self._lock:
            entries = routes = 0
            for part in self._partitions.values():
                if part.breakpoints is not None:
                    entries += len(part.breakpoints.entries)
                elif part.router is not None:
                    entries += sum(len(bucket) for bucket in part.router.buckets.values())
                    routes += len(part.router.buckets) + len(part.router.arrivals)
                elif part.engine is not None:
                    entries += len(part.engine)
            routes += sum(len(router.arrivals) for router in self._routers.values())
            return SimulatorHeld(len(self._partitions), entries, routes)

    def info(self, model: str, *, provider: str | None = None) -> ModelInfo:
        """The provider-table rules the simulator applies to ``model``."""
        provider = self._check_provider(provider) if provider else self.provider
        rules = self._rules_for(provider, model)
        if rules.info is None:
            raise ValueError(f"provider {provider!r}: engine caches take no model rules")
        return rules.info

    # --- internals ---

    @staticmethod
    def _check_provider(provider: str) -> str:
        found = _CHECKED.get(provider)
        if found is not None:
            return found
        canonical = normalize_provider(provider)
        if canonical not in (*_BREAKPOINT_PROVIDERS, "openai", *_ENGINE_PROVIDERS):
            raise ValueError(
                f"provider: {provider!r} is not simulated (expected anthropic, bedrock, openai, vllm or sglang)"
            )
        if len(_CHECKED) < 256:
            _CHECKED[provider] = canonical
        return canonical

    def _time(self, at: float | None) -> float:
        if at is not None:
            if isinstance(at, bool) or not isinstance(at, (int, float)):
                raise TypeError(f"at: expected seconds as a number, got {at!r}")
            return float(at)
        if self.clock is None:
            raise TypeError("at: pass the request's start time in seconds, or give the Simulator a clock=")
        return self.clock.now()

    def _flush(self, now: float) -> None:
        while self._scheduled and self._scheduled[0][0] <= now:
            first_byte, _, pending = heapq.heappop(self._scheduled)
            self._apply(pending, first_byte)

    def _respond(self, pending: PendingRequest, at: float | None) -> None:
        with self._lock:
            first_byte = self._time(at) if at is not None or self.clock is not None else pending.result.started_at
            first_byte = max(first_byte, pending.result.started_at)
            self._flush(first_byte)
            self._apply(pending, first_byte)

    def _apply(self, pending: PendingRequest, first_byte: float) -> None:
        if pending.done:
            return
        pending.done = True
        if pending._apply is not None:
            pending._apply(first_byte)

    def _coerce(self, prompt: PromptLike, provider: str, model: str | None) -> SimPrompt:
        if isinstance(prompt, SimPrompt):
            return prompt
        from cachepoint.core.prompt import PrefixView, Request

        if isinstance(prompt, PrefixView):
            return SimPrompt.from_view(prompt)
        if isinstance(prompt, (Request, Mapping)):
            request = prompt if isinstance(prompt, Request) else Request.parse(prompt, provider=provider)
            model = model or request.model
            info = self._rules_for(provider, model).info if model else None
            return SimPrompt.from_view(request.positions(info=info, counter=self.counter))
        raise TypeError(
            f"prompt: expected a SimPrompt, PrefixView, Request or payload mapping, got {type(prompt).__name__}"
        )

    def _rules_for(self, provider: str, model: str | None, cache_mode: str | None = None) -> _Rules:
        key = (provider, model or "", cache_mode)
        found = self._rules.get(key)
        if found is not None:
            return found
        if provider in _ENGINE_PROVIDERS:
            rules = _Rules("engine", None)
        else:
            if not model:
                raise ValueError("model: the request names no model; pass model=...")
            info = model_info(provider, model, table=self.table)
            ttl_map = dict(_TTL_SECONDS)
            if provider == "openai" and not info.explicit:
                rules = _Rules("automatic", info)
            elif provider == "openai":
                bp = BreakpointRules(
                    min_tokens=info.min_cache_tokens,
                    default_ttl=info.default_ttl,
                    ttl_seconds=ttl_map,
                    lookback=None,
                    recent=self.openai.recent_breakpoints,
                    written_explicit=4 if cache_mode == "explicit" else 3,
                    explicit_mode=cache_mode == "explicit",
                )
                rules = _Rules("breakpoints", info, bp)
            else:
                bp = BreakpointRules(
                    min_tokens=info.min_cache_tokens,
                    default_ttl=info.default_ttl,
                    ttl_seconds=ttl_map,
                    lookback=info.lookback_blocks,
                )
                rules = _Rules("breakpoints", info, bp)
        self._rules[key] = rules
        return rules

    def _partition(self, provider: str, tenant: str, model: str, mode: Mode) -> _Partition:
        key = (provider, tenant, model)
        part = self._partitions.get(key)
        if part is None:
            if mode == "breakpoints":
                part = _Partition(mode, breakpoints=BreakpointStore())
            elif mode == "automatic":
                part = _Partition(mode, router=AutomaticRouter())
            else:
                part = _Partition(
                    mode,
                    engine=EngineCache(block_size=self.engine.block_size, capacity_blocks=self.engine.capacity_blocks),
                )
            self._partitions[key] = part
        return part

    def _sweep(self, now: float) -> None:
        """Drop the breakpoint partitions whose every entry has expired at ``now`` (a tenant gone quiet, an OpenAI
        routing bucket no longer used) and the idle arrivals of OpenAI's routers. Such a partition reads exactly
        as a new one would: nothing in it is live, and a write finds it again by its key (see `_start`). Run
        when the requests since the last sweep outnumber the partitions (amortized O(1) per request)."""
        self._since_sweep = 0
        for key in [
            k for k, p in self._partitions.items() if p.breakpoints is not None and p.last_at + p.longest <= now
        ]:
            del self._partitions[key]
        for router in self._routers.values():
            router.forget_arrivals(now)

    def _start(self, prompt: PromptLike, call: _Call) -> _Started:
        self._since_sweep += 1
        if self._since_sweep > max(4096, len(self._partitions)):
            self._sweep(call.at)
        if call.provider in _ENGINE_PROVIDERS:
            return self._start_engine(prompt, call)
        sim_prompt = self._coerce(prompt, call.provider, call.model)
        model = call.model or sim_prompt.model
        if not model:
            raise ValueError("model: the request names no model; pass model=...")
        provider, tenant, at = call.provider, call.tenant, call.at
        rules = self._rules_for(provider, model, sim_prompt.cache_mode if provider == "openai" else None)
        if rules.mode == "automatic":
            return self._start_automatic(sim_prompt, call, model, rules)
        assert rules.breakpoints is not None
        if provider == "openai":
            # One store per routing bucket: prompt_cache_key (and the leading prefix) picks the machine.
            router = self._routers.get((tenant, model))
            if router is None:
                router = self._routers[(tenant, model)] = AutomaticRouter()
            route = router.route(sim_prompt, at, self.openai)
            key = (provider, tenant, f"{model}\0{route[0] or ''}\0{route[1][:12]}\0{route[2]}")
            part = self._partitions.get(key)
            if part is None:
                fresh = BreakpointStore(rules.breakpoints.recent)
                part = self._partitions[key] = _Partition("breakpoints", breakpoints=fresh)
        else:
            key = (provider, tenant, model)
            part = self._partition(provider, tenant, model, "breakpoints")
        store = part.breakpoints
        assert store is not None
        if at > part.last_at:  # noqa: PLR1730 - max() without the call: once per request and scenario in a replay
            part.last_at = at
        plan = plan_breakpoints(sim_prompt, store, at, rules.breakpoints)
        result = new_result(
            provider,  # provider
            model,  # model
            tenant,  # tenant
            sim_prompt.format,  # format
            "breakpoints",  # mode
            at,  # started_at
            sim_prompt.total_tokens,  # total_tokens
            plan.read_tokens,  # read_tokens
            sum(plan.write_by_ttl.values()),  # write_tokens
            plan.write_by_ttl,  # write_by_ttl
            call.output_tokens,  # output_tokens
            plan.read_position if plan.read_position >= 0 else None,  # hit_position
            plan.outcomes,  # breakpoints
            bool(sim_prompt.breakpoints),  # cache_fields
            True,  # reports_writes
        )
        writes = plan.writes
        for write in writes:
            if write[3] > part.longest:  # noqa: PLR1730 - as above
                part.longest = write[3]

        def apply(first_byte: float) -> None:
            # The partition as it is now: a sweep may have dropped it (all expired) while this write waited.
            found = self._partitions.get(key)
            if found is None or found.breakpoints is None:
                found = self._partitions[key] = _Partition(
                    "breakpoints", breakpoints=BreakpointStore(store.recent), last_at=at, longest=part.longest
                )
            target = found.breakpoints
            assert target is not None
            for block, tokens, label, seconds, path in writes:
                target.write(
                    block, tokens=tokens, ttl=label, seconds=seconds, started_at=at, first_byte_at=first_byte, path=path
                )
            if target.due():
                target.purge(first_byte)

        return result, (apply if writes else None)

    def _start_automatic(self, prompt: SimPrompt, call: _Call, model: str, rules: _Rules) -> _Started:
        info = rules.info
        assert info is not None
        at = call.at
        part = self._partition(call.provider, call.tenant, model, "automatic")
        router = part.router
        assert router is not None
        increment = info.increment or 1
        route = router.route(prompt, at, self.openai)
        bucket = router.bucket(route)
        cached, position, entry = lookup_automatic(
            prompt, bucket, at, min_tokens=info.min_cache_tokens, increment=increment
        )
        retention = prompt.retention or self.openai.default_retention
        lifetime = self.openai.retention_seconds(retention)
        if entry is not None and cached:
            entry.expires_at = max(entry.expires_at, at + lifetime)
            entry.hits += 1
        total = prompt.total_tokens
        result = new_result(
            call.provider,  # provider
            model,  # model
            call.tenant,  # tenant
            prompt.format,  # format
            "automatic",  # mode
            at,  # started_at
            total,  # total_tokens
            cached,  # read_tokens
            0,  # write_tokens
            _NO_WRITES,  # write_by_ttl
            call.output_tokens,  # output_tokens
            position if cached else None,  # hit_position
            (),  # breakpoints
            True,  # cache_fields
            False,  # reports_writes
        )
        cap = total - total % increment
        if cap < info.min_cache_tokens or not prompt.hashes:
            return result, None
        hashes = prompt.hashes

        def apply(first_byte: float) -> None:
            stored = AutomaticEntry(
                key=hashes[-1], cap=cap, ttl=retention, created_at=at, readable_at=first_byte, expires_at=at + lifetime
            )
            # Every prefix of the prompt now points at this request's cached prefix (one C-level update). The
            # machine as it is now: a purge may have dropped it (nothing left on it) while this write waited.
            router.bucket(route).update(dict.fromkeys(hashes, stored))
            router.writes_since_purge += 1
            if router.writes_since_purge > 4096:
                router.purge(first_byte)

        return result, apply

    def _start_engine(self, prompt: PromptLike, call: _Call) -> _Started:
        salt = None if call.tenant == "default" else call.tenant
        block_size = self.engine.block_size
        model = call.model
        if isinstance(prompt, TokenPrompt):
            keys = token_block_keys(prompt.tokens, block_size, salt)
            total, fmt, model = prompt.total_tokens, prompt.format, model or prompt.model
        else:
            sim_prompt = self._coerce(prompt, call.provider, model)
            keys = prompt_block_keys(sim_prompt, block_size, salt)
            total, fmt, model = sim_prompt.total_tokens, sim_prompt.format, model or sim_prompt.model
        model = model or "default"
        part = self._partition(call.provider, "*", model, "engine")  # one GPU pool per model; tenants are salts
        engine = part.engine
        assert engine is not None
        hit = engine.lookup(keys, total)
        result = new_result(
            call.provider,  # provider
            model,  # model
            call.tenant,  # tenant
            "openai-chat" if fmt in ("anthropic", "bedrock") else fmt,  # format
            "engine",  # mode
            call.at,  # started_at
            total,  # total_tokens
            hit.cached_tokens,  # read_tokens
            0,  # write_tokens
            _NO_WRITES,  # write_by_ttl
            call.output_tokens,  # output_tokens
            None,  # hit_position
            (),  # breakpoints
            True,  # cache_fields
            False,  # reports_writes
        )
        return result, lambda _first_byte: engine.insert(keys)

    def _snapshot(self, provider: str, tenant: str, model: str, part: _Partition) -> list[CacheEntry]:
        model_name, _, bucket = model.partition("\0")
        if part.breakpoints is not None:
            return [
                CacheEntry(
                    provider,
                    tenant,
                    model_name,
                    e.key,
                    e.tokens,
                    e.ttl,
                    e.created_at,
                    e.readable_at,
                    e.expires_at,
                    e.hits,
                    e.path,
                    bucket.replace("\0", "/") or None,
                )
                for e in part.breakpoints.entries.values()
            ]
        out: list[CacheEntry] = []
        if part.router is not None:
            seen: set[int] = set()
            for route, entries in part.router.buckets.items():
                for e in entries.values():
                    if id(e) in seen:
                        continue
                    seen.add(id(e))
                    label = f"{route[0] or ''}/{route[1][:12]}/{route[2]}"
                    out.append(
                        CacheEntry(
                            provider,
                            tenant,
                            model_name,
                            e.key,
                            e.cap,
                            e.ttl,
                            e.created_at,
                            e.readable_at,
                            e.expires_at,
                            e.hits,
                            None,
                            label,
                        )
                    )
        return out
