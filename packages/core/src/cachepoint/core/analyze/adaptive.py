"""`auto_adaptive`: auto's breakpoints, each conversation's TTL picked from the gaps it has shown so far.

`auto` writes the conversation with the shortest TTL (``5m``): a turn that comes after a pause of 5 to 60
minutes finds the conversation gone and writes it again, where a ``1h`` entry, written at a premium, would have
been read. Which is cheaper depends on when the next turn comes, which a placement cannot know; what it can
know is how the conversation has behaved so far. `AdaptiveTTL` keeps, per session, the gaps between its turns
and picks ``1h`` for the session's own breakpoints on the request at hand (its conversation, and a system prompt
no other session sends), else ``5m``, when

    p * (write_short - read) * conversation_tokens  >  margin * (write_long - write_short) * new_tokens

where ``p`` is the estimated chance that the next turn comes after the short TTL but within the long one (the
share of such gaps among the session's turns so far, shrunk toward the share over every session so far),
``conversation_tokens`` what a lapse of the short entries makes the next turn write again (the prefix after the
last breakpoint other sessions keep warm) and ``new_tokens`` what this request writes (the premium of the long
TTL is paid on those only). A breakpoint whose prefix another session has sent keeps auto's TTL, and so does a
static one (tools, system) while at least half the static prefixes seen so far have been sent by a second
session (it will likely be shared too; before any is seen, auto's choice stands): a system prompt every session
sends is kept warm by all of them, one each session renders for itself (tools in another order, the user's name
in it) is the session's own and written for 5m unless the session pauses. The decision uses only requests
already seen in the stream: a request's TTLs never depend on what comes after it.

``margin`` (default 1.5) and the shrinkage (`PRIOR_WEIGHT`, 10 turns) were tuned on the shipped traces
(``examples/traces``, measured by ``benchmarks/bench_economics.py``), not derived: the rule asks for 1.5x the
premium in expected savings because the estimate of ``p`` is noisy, and the shipped traces' late gaps come by
chance, so one session's own past says little more than every session's.

In the analyzer, `adapt_stream` applies it between the reorder buffer (requests in start order) and the
replay; ``cachepoint analyze`` shows it next to `auto` and does not recommend it (`ANALYZER_ONLY`): a spec
string cannot carry the history a live placement needs. Live, the same rule is ``auto(history=GapHistory())``:
`GapHistory` holds the gaps of the conversations it has placed (bounded, thread- and task-safe) and `auto`
consults it on every request, through any adapter that takes a strategy.

>>> from cachepoint.core.analyze.scenarios import parse_strategy
>>> parse_strategy("auto_adaptive(margin=2)").strategy
AutoAdaptive(static_ttl=None, conversation_ttl=None, anchors=1, margin=2)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from cachepoint.core.lru import LRU
from cachepoint.core.prompt.breakpoints import Breakpoint, PlacementContext
from cachepoint.core.prompt.positions import Position
from cachepoint.core.prompt.strategies import Auto
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info
from cachepoint.core.simulate import SimBreakpoint

if TYPE_CHECKING:  # scenarios.py registers auto_adaptive: imported here for types only
    from cachepoint.core.analyze.prepare import Prepared
    from cachepoint.core.analyze.scenarios import Scenario

__all__ = [
    "ANALYZER_ONLY",
    "DEFAULT_MARGIN",
    "PRIOR_WEIGHT",
    "AdaptItem",
    "AdaptiveTTL",
    "AutoAdaptive",
    "GapHistory",
    "adapt_stream",
    "analyzer_only",
    "auto_adaptive",
]

#: Expected savings asked for, as a multiple of the long TTL's premium (tuned on the shipped traces).
DEFAULT_MARGIN = 1.5
#: Turns' worth of weight given to the share over every session when estimating one session's (tuned there too).
PRIOR_WEIGHT = 10.0
#: Strategies ``cachepoint analyze`` replays but never recommends: a spec cannot name the history they need live
#: (``auto(history=GapHistory())`` is the live form).
ANALYZER_ONLY: frozenset[str] = frozenset({"auto_adaptive"})
_CONVERSATION = "m"  # `Prepared.layers` code of a conversation block
_ENGINES = ("vllm", "sglang")
_SHARED = ("",)  # the owner of a prefix two sessions have sent
_SESSIONS = 200_000  # sessions whose gaps are kept (least recently active dropped first)


@dataclass(frozen=True)
class AutoAdaptive(Auto):
    """`auto`'s placement; in the analyzer, the conversation breakpoints' TTL is then chosen per session from its
    past gaps (`AdaptiveTTL`). Placed outside the analyzer (by `apply_cache_points`) it is exactly `auto`.

    >>> auto_adaptive()
    AutoAdaptive(static_ttl=None, conversation_ttl=None, anchors=1, margin=1.5)
    """

    margin: float = DEFAULT_MARGIN


def auto_adaptive(*, margin: float = DEFAULT_MARGIN, anchors: int = 1) -> AutoAdaptive:
    """`auto` with each conversation's TTL (``5m`` or ``1h``) chosen from the gaps between its earlier turns
    (analyzer only: see the module notes). ``margin``: the expected savings of ``1h`` must exceed its premium
    this many times.

    >>> auto_adaptive(margin=2).margin
    2
    >>> auto_adaptive(margin=0)
    Traceback (most recent call last):
    ...
    ValueError: margin: expected a number > 0, got 0
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin: expected a number > 0, got {margin!r}")
    if anchors < 0:
        raise ValueError(f"anchors: expected >= 0, got {anchors}")
    return AutoAdaptive(None, None, anchors, margin)


def analyzer_only(spec: str) -> bool:
    """Whether the strategy a spec names can only be replayed by the analyzer (`ANALYZER_ONLY`).

    >>> analyzer_only("auto_adaptive(margin=2)"), analyzer_only("auto")
    (True, False)
    """
    return spec.split("(", 1)[0].strip() in ANALYZER_ONLY


class AdaptItem(Protocol):
    """What `AdaptiveTTL.adapt` reads of a request (`cachepoint.core.analyze.prepare.Prepared` has it)."""

    @property
    def time(self) -> float | None: ...
    @property
    def tenant(self) -> str: ...
    @property
    def session(self) -> str | None: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def hashes(self) -> tuple[str, ...]: ...
    @property
    def cumulative(self) -> tuple[int, ...]: ...
    @property
    def layers(self) -> str: ...


class _Session:
    __slots__ = ("gaps", "last", "long_gaps")

    def __init__(self, at: float) -> None:
        self.last = at
        self.gaps = 0
        self.long_gaps = 0


@dataclass(frozen=True)
class _Rules:
    short: tuple[str, float]
    long: tuple[str, float]
    premium: float  # long write - short write, per token
    saving: float  # short write - read, per token
    minimum: int  # the model's minimum cacheable prefix


class AdaptiveTTL:
    """Picks the TTL of each request's breakpoints from its session's past gaps (see the module notes).

    Call `adapt` once per request, in start order: it records the request (its gap to the session's previous
    one) and returns its placement with the session's own breakpoints at the short or the long TTL. A
    breakpoint is the session's own when its prefix has not been sent by another session (a system prompt every
    session shares is kept warm by all of them: it keeps auto's TTL), nor is a static prefix likely to be (see
    the module notes). What is already cached, and so written by
    nobody, is tracked from the placements this object returned (a small model of the cache it fills: the
    entries' prefixes and lifetimes, refreshed when read). Requests without a session id are grouped by their
    first conversation block (the same opening turn: the same conversation).

    >>> from types import SimpleNamespace as Item
    >>> def turn(at, n):
    ...     return Item(time=at, tenant="t", session="s", provider="anthropic", model="claude-sonnet-4-5",
    ...                 hashes=tuple(f"h{k}" for k in range(n + 1)), cumulative=tuple(3000 * (k + 1)
    ...                 for k in range(n + 1)), layers="s" + "m" * n)
    >>> def ttls(gaps):  # a session of 3000-token turns: system prompt, then one more message per turn
    ...     ttl, at, out = AdaptiveTTL(), 0.0, []
    ...     for n, gap in enumerate(gaps, 1):
    ...         placed = ttl.adapt(turn(at, n), (SimBreakpoint(0, "1h"), SimBreakpoint(n, None)))
    ...         out.append(placed[-1].ttl)
    ...         at += gap
    ...     return out
    >>> ttls([30.0] * 6)  # steady traffic: every turn within five minutes
    ['5m', '5m', '5m', '5m', '5m', '5m']
    >>> ttls([30.0, 900.0] * 3)  # a quick follow-up, then a 15-minute pause, again and again
    ['5m', '5m', '5m', '1h', '1h', '1h']
    """

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        prior_weight: float = PRIOR_WEIGHT,
        table: ProviderTable | None = None,
        sessions: int = _SESSIONS,
    ) -> None:
        self.margin = margin
        self.prior_weight = prior_weight
        self.table = table
        self._sessions: LRU[tuple[str, ...], _Session] = LRU(sessions)
        # prefix -> the session that sent it first, or _SHARED once a second one has
        self._owners: LRU[tuple[str, ...], tuple[str, ...]] = LRU(sessions * 8)
        # prefix -> [expires at, lifetime]: the entries the returned placements wrote
        self._entries: LRU[tuple[str, ...], list[float]] = LRU(sessions * 8)
        self._rules: dict[tuple[str, str], _Rules | None] = {}
        self.gaps = 0  # over every session: gaps seen, and those between the short and the long TTL
        self.long_gaps = 0
        self.static_prefixes = 0  # static (tools, system) prefixes sent, and those a second session sent too
        self.static_shared = 0

    def _rules_for(self, provider: str, model: str) -> _Rules | None:
        key = (provider, model)
        if key in self._rules:
            return self._rules[key]
        rules = None
        if provider not in _ENGINES:
            info: ModelInfo = model_info(provider, model, table=self.table)
            durations = []
            for label in info.ttls:
                try:
                    durations.append((label, float(ttl_seconds(label))))
                except ValueError:
                    continue
            durations.sort(key=lambda d: d[1])
            pricing = info.pricing
            if info.explicit and len(durations) > 1 and pricing is not None and pricing.cache_write:
                short, long = durations[0], durations[-1]
                premium = pricing.write_price(long[0]) - pricing.write_price(short[0])
                saving = pricing.write_price(short[0]) - pricing.cache_read
                if premium > 0 and saving > 0:
                    rules = _Rules(short, long, premium, saving, info.min_cache_tokens)
        self._rules[key] = rules
        return rules

    def _key(self, item: AdaptItem) -> tuple[str, ...] | None:
        if item.session is not None:
            return (item.tenant, item.session)
        first = item.layers.find(_CONVERSATION)
        if first < 0:
            return None
        return (item.tenant, item.provider, item.model, item.hashes[first])

    def chance(self, key: tuple[str, ...]) -> float:
        """The estimated chance that the session's next gap falls between the short and the long TTL."""
        prior = self.long_gaps / self.gaps if self.gaps else 0.0
        found = self._sessions.get(key)
        gaps, longs = (found.gaps, found.long_gaps) if found is not None else (0, 0)
        # Each turn so far is one chance for a next gap, the current one included (a session may end at any
        # turn, and a long TTL is then paid for nothing); shrunk toward the share over every session.
        return (longs + self.prior_weight * prior) / (gaps + 1 + self.prior_weight)

    def _observe(self, key: tuple[str, ...], at: float, rules: _Rules) -> None:
        state = self._sessions.get(key)
        if state is None:
            self._sessions.put(key, _Session(at))
            return
        late = rules.short[1] <= at - state.last < rules.long[1]
        state.gaps += 1
        state.long_gaps += late
        self.gaps += 1
        self.long_gaps += late
        state.last = at

    def adapt(self, item: AdaptItem, placement: Sequence[SimBreakpoint]) -> tuple[SimBreakpoint, ...]:
        """Record ``item`` and return ``placement`` with its breakpoints' TTLs chosen (see the class)."""
        at = item.time or 0.0
        key = self._key(item)
        rules = self._rules_for(item.provider, item.model)
        if key is None or rules is None:
            return tuple(placement)
        self._observe(key, at, rules)
        explicit = sorted((bp for bp in placement if not bp.implicit), key=lambda bp: bp.position)
        if not explicit:
            return tuple(placement)
        partition = (item.tenant, item.provider, item.model)
        hashes, cumulative = item.hashes, item.cumulative
        # Shared: the deepest breakpoint whose prefix another session has sent (it keeps auto's TTL), or a static
        # one (tools, system) while most static prefixes so far have turned out shared: it likely will be too.
        shared = -1
        likely = self.static_shared * 2 >= self.static_prefixes
        for bp in explicit:
            prefix = (*partition, hashes[bp.position])
            static = item.layers[bp.position] != _CONVERSATION
            owner = self._owners.get(prefix)
            if owner is None:
                self._owners.put(prefix, key)
                self.static_prefixes += static
            elif owner != key:
                shared = bp.position
                if owner != _SHARED:
                    self._owners.put(prefix, _SHARED)
                    self.static_shared += static
            if static and likely:
                shared = bp.position
        # Cached: the deepest prefix an entry written by an earlier placement still holds (what nobody writes).
        cached = -1
        for j in range(len(hashes) - 1, -1, -1):
            entry = self._entries.get((*partition, hashes[j]))
            if entry is not None and at < entry[0]:
                cached = j
                entry[0] = max(entry[0], at + entry[1])  # a read renews the entry for its own lifetime
                break
        tail = explicit[-1].position
        base = cumulative[shared] if shared >= 0 else 0
        lost = cumulative[tail] - base  # what the next turn writes again if the session's entries lapse
        new = cumulative[tail] - max(base, cumulative[cached] if cached >= 0 else 0)  # what this request writes
        long = self.chance(key) * rules.saving * lost > self.margin * rules.premium * new
        label = rules.long[0] if long else rules.short[0]
        chosen = [
            SimBreakpoint(bp.position, label, bp.implicit) if not bp.implicit and bp.position > shared else bp
            for bp in placement
        ]
        adapted = _longer_first(chosen, rules)
        self._remember(adapted, partition, hashes, cumulative, cached, at, rules)
        return adapted

    def _remember(  # noqa: PLR0917 - internal
        self,
        placement: Sequence[SimBreakpoint],
        partition: tuple[str, str, str],
        hashes: Sequence[str],
        cumulative: Sequence[int],
        cached: int,
        at: float,
        rules: _Rules,
    ) -> None:
        """The entries ``placement`` writes: every breakpoint past the cached prefix, long enough to cache."""
        seconds = {rules.short[0]: rules.short[1], rules.long[0]: rules.long[1]}
        for bp in placement:
            if bp.implicit or bp.position <= cached or cumulative[bp.position] < rules.minimum:
                continue
            life = seconds.get(bp.ttl or rules.short[0], rules.short[1])
            prefix = (*partition, hashes[bp.position])
            entry = self._entries.get(prefix)
            if entry is not None and at < entry[0]:
                entry[0] = max(entry[0], at + life)
            else:
                self._entries.put(prefix, [at + life, life])


def _longer_first(placement: Sequence[SimBreakpoint], rules: _Rules) -> tuple[SimBreakpoint, ...]:
    """The provider takes longer TTLs before shorter: an earlier breakpoint takes the longest TTL of any after it."""
    seconds = {rules.short[0]: rules.short[1], rules.long[0]: rules.long[1]}
    order = sorted(range(len(placement)), key=lambda i: placement[i].position)
    out = list(placement)
    need: tuple[str | None, float] = (None, 0.0)
    for i in reversed(order):
        bp = placement[i]
        mine = seconds.get(bp.ttl or rules.short[0], 0.0)
        if mine >= need[1]:
            need = (bp.ttl, mine)
        else:
            out[i] = SimBreakpoint(bp.position, need[0], bp.implicit)
    return tuple(out)


class _LiveItem(NamedTuple):
    """A request being placed, as `AdaptiveTTL.adapt` reads it (an `AdaptItem`)."""

    time: float | None
    tenant: str
    session: str | None
    provider: str
    model: str
    hashes: tuple[str, ...]
    cumulative: tuple[int, ...]
    layers: str


def _conversation(positions: Sequence[Position], layers: str) -> str | None:
    """A conversation's key: the prefix through its whole first message (its first block alone is not enough: two
    conversations that open with the same retrieved document would count as one)."""
    first = layers.find(_CONVERSATION)
    if first < 0:
        return None
    message = positions[first].locator.message
    end = first
    while (
        end + 1 < len(positions) and layers[end + 1] == _CONVERSATION and positions[end + 1].locator.message == message
    ):
        end += 1
    return positions[end].prefix_hash


class GapHistory:
    """The gaps of the conversations `auto` has placed, for ``auto(history=GapHistory())``: `auto_adaptive`'s
    rule (`AdaptiveTTL`, see the module notes), live. Each request's own breakpoints (its conversation, and a
    system prompt no other conversation has sent) get ``1h`` when the conversation's pauses so far make a lapse
    of the ``5m`` entries likely enough to pay the premium, else ``5m``; prefixes other conversations send keep
    `auto`'s TTL. A conversation is keyed by its whole first message (with the tools and system before it), so no
    session id is needed; ``tenant`` keeps two tenants' traffic apart when they share one history.

    Keep one per process (or per agent) and pass the same strategy, or strategies built on the same history, to
    every request: it learns only from what it places. Bounded: at most ``sessions`` conversations are kept
    (least recently active dropped first) and 8x as many prefixes. Safe from many threads and event loops (one
    lock, held for the few microseconds of a decision; nothing in it awaits). ``clock`` gives the time of each
    request (seconds; default `time.time`); ``margin`` and ``table`` are `AdaptiveTTL`'s.

    >>> from cachepoint.core.prompt import apply_cache_points, auto
    >>> now = [0.0]
    >>> strategy = auto(history=GapHistory(clock=lambda: now[0]))
    >>> messages = [{"role": "user", "content": "My router reboots every night. " * 200}]
    >>> def turn(gap):
    ...     now[0] += gap
    ...     messages.append({"role": "assistant", "content": "Try a firmware update. " * 50})
    ...     messages.append({"role": "user", "content": "Done, and then? " * 50})
    ...     payload, _ = apply_cache_points({"model": "claude-sonnet-4-5", "max_tokens": 8,
    ...                                      "messages": messages}, strategy=strategy)
    ...     return payload["messages"][-1]["content"][-1]["cache_control"].get("ttl", "5m")
    >>> # The customer goes away for 15 minutes; from then on, the conversation is written for an hour (the turn
    >>> # right after the pause rewrites all of it, so it pays the 1h premium only where it is likely to pay).
    >>> [turn(gap) for gap in (30, 900, 30, 900, 30, 900)]
    ['5m', '5m', '1h', '1h', '1h', '1h']
    """

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        sessions: int = _SESSIONS,
        table: ProviderTable | None = None,
        clock: Callable[[], float] = time.time,
        tenant: str = "",
    ) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
            raise ValueError(f"margin: expected a number > 0, got {margin!r}")
        if sessions < 1:
            raise ValueError(f"sessions: expected >= 1, got {sessions}")
        self.tenant = tenant
        self._clock = clock
        self._rule = AdaptiveTTL(margin=margin, table=table, sessions=sessions)
        self._lock = threading.Lock()

    @property
    def conversations(self) -> int:
        """How many conversations' gaps are kept (at most ``sessions``)."""
        with self._lock:
            return len(self._rule._sessions)

    def advise(self, ctx: PlacementContext, wanted: Sequence[Breakpoint]) -> list[Breakpoint]:
        """``wanted`` (`auto`'s breakpoints for ``ctx``) with TTLs from the history; records the request."""
        positions = ctx.view.positions
        # As `Prepared.layers` codes them: only a conversation block counts as "m".
        layers = "".join("m" if p.section == "messages" and p.layer != "system" else "s" for p in positions)
        item = _LiveItem(
            self._clock(),
            self.tenant,
            _conversation(positions, layers),
            ctx.provider,
            ctx.request.model or ctx.info.model,
            tuple(p.prefix_hash for p in positions),
            tuple(p.cumulative_tokens for p in positions),
            layers,
        )
        placement = tuple(SimBreakpoint(bp.position, bp.ttl) for bp in wanted)
        with self._lock:
            adapted = self._rule.adapt(item, placement)
        out = []
        for bp, new in zip(wanted, adapted, strict=True):
            if new.ttl == bp.ttl:
                out.append(bp)
            else:
                why = f"{bp.reason}; {new.ttl} from the gaps this conversation has shown so far"
                out.append(Breakpoint(bp.position, new.ttl, bp.id, why))
        return out


def adapt_stream(
    requests: Iterable[Prepared],
    scenarios: Sequence[Scenario],
    *,
    table: ProviderTable | None = None,
) -> Iterator[Prepared]:
    """``requests`` (in start order) with the placements of every `AutoAdaptive` scenario adapted by its own
    `AdaptiveTTL`: the analyzer's hook between its reorder buffer and its replay. With no such scenario, the
    requests go through untouched.

    >>> from cachepoint.core.analyze.prepare import PrepareContext
    >>> ctx = PrepareContext(strategies=["auto", "auto_adaptive"])  # scenarios: recorded, none, auto, auto_adaptive
    >>> item = ctx.prepare_line({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
    ...                          "messages": [{"role": "user", "content": "Hi"}]}, line=1, offset=0)
    >>> (adapted,) = adapt_stream([item], ctx.scenarios)
    >>> [bp.ttl for bp in adapted.placements[2]], [bp.ttl for bp in adapted.placements[3]]
    (['1h', None], ['1h', '5m'])
    """
    adaptive = [
        (index, AdaptiveTTL(margin=s.strategy.margin, table=table))
        for index, s in enumerate(scenarios)
        if isinstance(s.strategy, AutoAdaptive)
    ]
    if not adaptive:
        yield from requests
        return
    for item in requests:
        placements = list(item.placements)
        for index, ttl in adaptive:
            placements[index] = ttl.adapt(item, placements[index])
        yield item._replace(placements=tuple(placements))
