"""`plan_cache_points`: place a strategy on a `PrefixView` under the provider's rules, without rendering anything.

This is the decision half of `apply_cache_points` (which parses the payload, views it, plans, then writes the
markers and renders the payload). Use it directly when the view already exists and no payload is needed: to
compare strategies on one request, to replay a trace (the analyzer places five strategies on each request's one
view), or to preview what `apply_cache_points` would do.

Order of checks for each breakpoint the strategy returns (most valuable first): in range, TTL supported,
block eligible, prefix at or above the model minimum, not on a block that already has a breakpoint (merged),
within the remaining budget; then TTLs are ordered (an earlier breakpoint takes the longer TTL of a later one,
which costs nothing because the later write covers its prefix anyway).

OpenAI's ``prompt_cache_key``: OpenAI routes a request to a machine by a hash of the prompt's first ~256 tokens
*combined with* the key, so a key can only split traffic that shares a prefix, never bring together traffic
that does not. A key that changes from one request to the next (one derived from the question, the
conversation tail, or anything below it) sends every request to a fresh machine and nothing is ever read. The
key is therefore derived from the request's static layers, tools and system prompt, whatever their length (a
short system prompt below the model's minimum still names the workload): the same for every request and every
turn of a workload, whatever the strategy places. A request with no tools and no system prompt gets no derived
key: OpenAI's own routing on the prompt's opening keeps a conversation's turns together already, and a key
made from the first message would split single-turn requests that share a document but differ in the question.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cachepoint.core.prompt.breakpoints import Breakpoint, PlacementContext, Strategy
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.model import CacheMarker, Locator
from cachepoint.core.prompt.positions import ExistingBreakpoint, PrefixView
from cachepoint.core.prompt.report import CacheReport, Decision
from cachepoint.core.prompt.strategies import auto
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info, normalize_provider

__all__ = ["GENERIC_PROVIDERS", "CachePlan", "derive_cache_key", "placed_breakpoints", "plan_cache_points"]

#: Providers served by the generic compiler (OpenAI Chat shape with ``cache_control`` on parts).
GENERIC_PROVIDERS = ("generic", "openrouter", "litellm")
_OPENAI_FORMATS = ("openai-chat", "openai-responses")
_ORDER = {"placed": 0, "merged": 1, "dropped": 2}


@dataclass
class _Candidate:
    bp: Breakpoint
    ttl: str
    notes: list[str]


def rules_provider(provider: str, model: str) -> str:
    """The provider whose caching rules apply: itself, or for the generic providers (OpenRouter, LiteLLM) the
    upstream model's (``anthropic/claude-...`` -> ``anthropic``, ``openai/gpt-...`` -> ``openai``).

    >>> rules_provider("openrouter", "openai/gpt-4o"), rules_provider("bedrock", "anthropic.claude-sonnet-4-5")
    ('openai', 'bedrock')
    """
    if provider not in GENERIC_PROVIDERS:
        return provider
    name = model.lower().split("/", 1)[-1] if "/" in model else model.lower()
    if model.lower().startswith("anthropic/") or name.startswith("claude"):
        return "anthropic"
    if model.lower().startswith("openai/") or name.startswith(("gpt-", "o1", "o3", "o4")):
        return "openai"
    return "anthropic"


def derive_cache_key(model: str, prefix_hash: str) -> str:
    """The ``prompt_cache_key`` for a cached prefix: stable for the same model and prefix, short, opaque.

    >>> derive_cache_key("gpt-5.6", "ab" * 32)
    'cp-80b17bc5a5cc2f1d6be7f2d8'
    """
    digest = hashlib.sha256(f"{model}\0{prefix_hash}".encode()).hexdigest()
    return f"cp-{digest[:24]}"


@dataclass(frozen=True)
class CachePlan:
    """Where a strategy's breakpoints go on one request, and why (the result of `plan_cache_points`).

    Attributes:
        provider, model: the provider whose syntax the request takes and the model id.
        view: the `PrefixView` the plan was made on; ``info`` the model's rules applied.
        decisions: one `Decision` per breakpoint the strategy asked for, placed ones first (most valuable first),
            then merged, then dropped, each with its reason. A placed decision's ``path`` is the block's path in
            the request as given (`apply_cache_points` reports the path in the rendered payload, which differs
            only where string content becomes a block to carry the marker).
        cache_key, cache_key_source: the OpenAI ``prompt_cache_key`` the request gets and where it comes from
            (``None`` for other providers, or when nothing static names the workload).
        warnings: problems with the request itself (too many markers, markers out of TTL order, unknown model).

    >>> from cachepoint.core.prompt import Request, auto
    >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
    ...                       "messages": [{"role": "user", "content": "Hi"}]}).positions(provider="anthropic")
    >>> plan = plan_cache_points(view, auto(), provider="anthropic")
    >>> [(d.breakpoint.id, d.ttl, d.path) for d in plan.placed]
    [('tail', '5m', 'messages[0].content'), ('system', '1h', 'system')]
    >>> [(b.position, b.ttl, b.source) for b in plan.breakpoints]
    [(0, '1h', 'marker'), (1, None, 'marker')]
    """

    provider: str
    model: str
    view: PrefixView
    info: ModelInfo
    decisions: tuple[Decision, ...]
    cache_key: str | None = None
    cache_key_source: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def placed(self) -> list[Decision]:
        """Breakpoints to write, most valuable first."""
        return [d for d in self.decisions if d.outcome == "placed"]

    @property
    def merged(self) -> list[Decision]:
        """Breakpoints that landed on a block already carrying one."""
        return [d for d in self.decisions if d.outcome == "merged"]

    @property
    def dropped(self) -> list[Decision]:
        """Breakpoints not placed, each with its reason."""
        return [d for d in self.decisions if d.outcome == "dropped"]

    def markers(self) -> dict[Locator, CacheMarker | None]:
        """The markers to write, by block (``CacheMarker(None)``: the model's default TTL), for
        `Request.with_markers`."""
        default = self.info.default_ttl
        view = self.view
        return {
            view[d.breakpoint.position].locator: CacheMarker(None if d.ttl == default else d.ttl) for d in self.placed
        }

    @property
    def breakpoints(self) -> tuple[ExistingBreakpoint, ...]:
        """Every breakpoint the request carries once the plan is written, sorted by position: those it had
        (markers, automatic, nested, OpenAI's implicit one) and the placed ones (``ttl`` ``None`` for the model's
        default, as the written marker says it). What the provider's cache, or `cachepoint.core.simulate`, sees."""
        default = self.info.default_ttl
        placed = [
            ExistingBreakpoint(d.breakpoint.position, None if d.ttl == default else d.ttl, "marker")
            for d in self.placed
        ]
        return tuple(sorted((*self.view.breakpoints, *placed), key=lambda b: b.position))

    def report(self) -> CacheReport:
        """The plan as a `CacheReport` (what `apply_cache_points` returns, paths as in the request given)."""
        return CacheReport(
            provider=self.provider,
            model=self.model,
            format=self.view.request.format,
            info=self.info,
            decisions=self.decisions,
            existing=self.view.breakpoints,
            total_tokens=self.view.total_tokens,
            cache_key=self.cache_key,
            cache_key_source=self.cache_key_source,
            warnings=self.warnings,
        )


def plan_cache_points(
    view: PrefixView,
    strategy: Strategy | None = None,
    *,
    provider: str = "anthropic",
    model: str | None = None,
    info: ModelInfo | None = None,
    table: ProviderTable | None = None,
    cache_key: bool | str = True,
) -> CachePlan:
    """Run ``strategy`` (default `auto()`) on ``view`` and apply ``provider``'s rules: what `apply_cache_points`
    decides for the same request, without writing markers or rendering a payload.

    ``view`` is the request's `PrefixView` built with the model's rules (``Request.positions(info=...)`` or a
    `ViewBuilder`); its breakpoints count against the budget. ``info`` defaults to the view's own rules, else the
    provider table's for ``model`` (default: the request's). ``cache_key``: for OpenAI, ``True`` derives
    ``prompt_cache_key`` from the static layers (see the module notes), a string sets it, ``False`` leaves it
    unset; a key the request already has is kept.

    >>> from cachepoint.core.prompt import Request, cache_until
    >>> view = Request.parse({"model": "gpt-4.1", "messages": [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "Hi"}]}).positions(provider="openai")
    >>> plan = plan_cache_points(view, cache_until(-1), provider="openai")
    >>> plan.placed, plan.dropped[0].code, plan.cache_key == derive_cache_key("gpt-4.1", view[0].prefix_hash)
    ([], 'below_minimum', True)
    """
    provider = normalize_provider(provider)
    request = view.request
    model = model or request.model
    if info is None:
        info = view.info
    if info is None:
        if not model:
            raise ValueError("model: the request names no model; pass model=...")
        name = model.split("/", 1)[1] if provider in GENERIC_PROVIDERS and "/" in model else model
        info = get_format(request.format).effective_info(model_info(rules_provider(provider, model), name, table=table))
    existing = view.breakpoints
    budget = max(info.max_breakpoints - len(existing), 0)
    warnings = _warnings(view, info, model)

    ctx = PlacementContext(view, info, provider, budget)
    chosen = list((strategy if strategy is not None else auto())(ctx))
    decisions = [_dropped(view, s.breakpoint, s.code, s.detail) for s in ctx.skipped]
    kept = _kept(view, info, chosen, decisions)
    if not info.explicit:
        detail = (
            f"{info.model} caches prefixes automatically and takes no explicit markers"
            if info.automatic
            else f"{info.model} takes no cache markers (the provider rejects a request carrying one)"
        )
        decisions.extend(_dropped(view, c.bp, "no_explicit_markers", detail) for c in kept)
        kept = []
    used = info.max_breakpoints - budget
    detail = f"{info.max_breakpoints} markers allowed, {used} already in the request, {budget} left"
    decisions.extend(
        _dropped(view, c.bp, "over_budget", f"{detail} for higher-ranked breakpoints") for c in kept[budget:]
    )
    kept = kept[:budget]
    ordered = {id(c) for c in _ordered(view, info, existing, kept, decisions)}
    for c in (c for c in kept if id(c) in ordered):  # the strategy's priority order, for the report
        p = view[c.bp.position]
        decisions.append(Decision("placed", c.bp, "", "; ".join(c.notes), c.ttl, p.path, p.cumulative_tokens))
    decisions.sort(key=lambda d: _ORDER[d.outcome])

    key, key_from = None, None
    if info.provider == "openai" and request.format in _OPENAI_FORMATS and provider not in GENERIC_PROVIDERS:
        key, key_from = _cache_key(view, model or info.model, cache_key)
    return CachePlan(
        provider=provider,
        model=model or info.model,
        view=view,
        info=info,
        decisions=tuple(decisions),
        cache_key=key,
        cache_key_source=key_from,
        warnings=tuple(warnings),
    )


def placed_breakpoints(
    view: PrefixView,
    strategy: Strategy | None = None,
    *,
    provider: str = "anthropic",
    info: ModelInfo,
    model: str | None = None,
    cache_key: bool | str = True,
) -> tuple[tuple[ExistingBreakpoint, ...], str | None]:
    """``plan.breakpoints`` and ``plan.cache_key`` of ``plan = plan_cache_points(view, strategy, ...)``, without
    the rest of the plan: no `Decision` per breakpoint, no reasons, no warnings.

    This is the analyzer's hot path (five strategies placed on every request of a trace), where only what the
    provider's cache sees matters: the same rules, run by the same code (`_kept`, `_ordered`), with the
    sentences that explain them left unwritten. ``info`` must be given (the rules the view was built with).
    `tests/core/prompt/test_placed_breakpoints.py` checks it against `plan_cache_points` on random requests,
    strategies and markers.

    >>> from cachepoint.core.prompt import Request, auto
    >>> from cachepoint.core.providers import model_info
    >>> info = model_info("anthropic", "claude-sonnet-4-5")
    >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
    ...                       "messages": [{"role": "user", "content": "Hi"}]}).positions(info=info)
    >>> placed_breakpoints(view, auto(), info=info) == (plan_cache_points(view, auto(), info=info).breakpoints, None)
    True
    """
    provider = normalize_provider(provider)
    existing = view.breakpoints
    budget = max(info.max_breakpoints - len(existing), 0)
    chosen = (strategy if strategy is not None else auto())(PlacementContext(view, info, provider, budget))
    request = view.request
    key = None
    if info.provider == "openai" and request.format in _OPENAI_FORMATS and provider not in GENERIC_PROVIDERS:
        key = _cache_key(view, model or request.model or info.model, cache_key)[0]
    if not info.explicit or not budget:
        return tuple(sorted(existing, key=_position)), key  # nothing can be placed (`plan_cache_points` drops all)
    default = info.default_ttl
    # ``None`` for the model's default TTL, as `CachePlan.breakpoints` writes it.
    made = [
        ExistingBreakpoint(c.bp.position, None if c.ttl == default else c.ttl, "marker")
        for c in _ordered(view, info, existing, _kept(view, info, chosen)[:budget])
    ]
    if not existing:
        return tuple(made), key
    # Stable: the request's own breakpoints keep their order; a placed one never shares their position.
    return tuple(sorted((*existing, *made), key=_position)), key


def _position(b: ExistingBreakpoint) -> int:
    return b.position


# --- the cache key ------------------------------------------------------------------------------------------------


def cache_key_position(view: PrefixView) -> int | None:
    """The position the derived ``prompt_cache_key`` hashes the prefix through: the end of the leading stable
    tools and system blocks (OpenAI's system/developer messages included), or ``None`` when the request starts
    with something else.

    >>> from cachepoint.core.prompt import Request
    >>> view = Request.parse({"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "Hi"}]}).positions()
    >>> cache_key_position(view), cache_key_position(Request.parse({"model": "gpt-4o", "messages": [
    ...     {"role": "user", "content": "Hi"}]}).positions())
    (0, None)
    """
    found = None
    for p in view.positions:
        if p.layer not in ("tools", "system") or not p.stable:
            break
        found = p.index
    return found


def _cache_key(view: PrefixView, model: str, cache_key: bool | str) -> tuple[str | None, str | None]:
    current = view.request.params.get("prompt_cache_key")
    if isinstance(current, str) and current:
        return current, "kept: the request already sets prompt_cache_key"
    if isinstance(cache_key, str):
        return cache_key, "given by the caller"
    if not cache_key:
        return None, None
    source = cache_key_position(view)
    if source is None:
        return None, (
            "not set: no tools or system prompt name the workload; OpenAI routes on the prompt's first tokens, "
            "which a conversation's turns share"
        )
    p = view[source]
    return derive_cache_key(model, p.prefix_hash), (
        f"derived from the static prefix through {p.path} (~{p.cumulative_tokens} tokens): the same for every "
        "request with these tools and system prompt"
    )


# --- the provider's rules -----------------------------------------------------------------------------------------


def _warnings(view: PrefixView, info: ModelInfo, model: str | None) -> list[str]:
    warnings: list[str] = []
    counted = [e for e in view.breakpoints if e.source != "implicit"]
    if info.explicit and len(counted) > info.max_breakpoints:
        warnings.append(
            f"the request already carries {len(counted)} cache markers; {info.model} allows "
            f"{info.max_breakpoints} (the provider will reject it)"
        )
    if not info.known:
        warnings.append(f"model {model!r} is not in the provider table: using conservative defaults ({info.note})")
    _check_existing_order(view, view.breakpoints, info, warnings)
    return warnings


def _dropped(view: PrefixView, bp: Breakpoint, code: str, detail: str) -> Decision:
    inside = 0 <= bp.position < len(view)
    return Decision(
        "dropped",
        bp,
        code,
        detail,
        path=view[bp.position].path if inside else None,
        tokens=view[bp.position].cumulative_tokens if inside else None,
    )


def _supported_ttl(requested: str | None, info: ModelInfo) -> tuple[str, str | None]:
    """The TTL to use and, when it differs from the request, why."""
    if requested is None:
        return info.default_ttl, None
    if requested in info.ttls:
        return requested, None
    try:
        wanted = ttl_seconds(requested)
        usable = [t for t in info.ttls if _is_duration(t) and ttl_seconds(t) <= wanted]
    except ValueError:
        usable = []
    ttl = max(usable, key=ttl_seconds) if usable else info.default_ttl
    return ttl, f"ttl_unsupported: {info.model} takes ttl {', '.join(info.ttls)}; used {ttl} instead of {requested}"


def _ttl_rank(label: str) -> int:
    """Seconds of a duration label; -1 for a label that is not one (OpenAI's ``in_memory``, Gemini's ``implicit``),
    which any duration outlasts."""
    try:
        return ttl_seconds(label)
    except ValueError:
        return -1


def _is_duration(label: str) -> bool:
    try:
        ttl_seconds(label)
    except ValueError:
        return False
    return True


_MERGE_CODES = {"marker": "existing", "nested": "existing", "automatic": "automatic", "implicit": "implicit"}
_MERGE_TEXT = {
    "existing": "the block already carries a marker (kept as written)",
    "automatic": "the top-level automatic cache_control lands on this block",
    "implicit": "OpenAI's implicit breakpoint is on this block",
}


def _kept(
    view: PrefixView, info: ModelInfo, chosen: Sequence[Breakpoint], decisions: list[Decision] | None = None
) -> list[_Candidate]:
    """The strategy's breakpoints that survive the provider's rules, most valuable first: in range, on an
    eligible block, past the minimum, not on a block the request already marks; a duplicate merges into the
    first (lending it a longer TTL); an unsupported TTL becomes the longest supported one not above it.

    With ``decisions``, every breakpoint that does not survive gets its `Decision` there (`_refused`) and
    survivors carry notes; without, nothing is explained (the analyzer's hot path): one set of rules for both."""
    explain = decisions is not None
    positions = view.positions
    count = len(positions)
    minimum = info.min_cache_tokens
    ttls = info.ttls
    default = ttls[0]
    marked = {e.position for e in view.breakpoints}
    kept: list[_Candidate] = []
    taken: dict[int, _Candidate] = {}
    for bp in chosen:
        position = bp.position
        requested = bp.ttl
        ttl = default if requested is None else requested if requested in ttls else _supported_ttl(requested, info)[0]
        if not 0 <= position < count:
            refusal: str | None = "out_of_range"
        else:
            p = positions[position]
            refusal = (
                "ineligible"
                if not p.eligible
                else "below_minimum"
                if p.cumulative_tokens < minimum
                else "existing"
                if position in marked
                else None
            )
        first = taken.get(position) if refusal is None else None
        if first is not None:
            if _ttl_rank(ttl) > _ttl_rank(first.ttl):
                if explain:
                    first.notes.append(f"ttl {ttl} from merged breakpoint {bp.id!r}")
                first.ttl = ttl
            refusal = "duplicate"
        if refusal is not None:
            if decisions is not None:
                decisions.append(_refused(view, info, bp, refusal, ttl, first=first))
            continue
        note = _supported_ttl(requested, info)[1] if explain else None
        candidate = _Candidate(bp, ttl, [note] if note else [])
        taken[position] = candidate
        kept.append(candidate)
    return kept


def _refused(
    view: PrefixView, info: ModelInfo, bp: Breakpoint, refusal: str, ttl: str, *, first: _Candidate | None
) -> Decision:
    """Why `_kept` did not keep ``bp`` (``ttl``: the one it asked for, as supported), as a `Decision`."""
    position = bp.position
    if refusal == "out_of_range":
        return Decision(
            "dropped", bp, "out_of_range", f"position {position} is not in the request ({len(view)} positions)"
        )
    p = view[position]
    path, tokens = p.path, p.cumulative_tokens
    if refusal == "ineligible":
        return Decision(
            "dropped", bp, "ineligible", p.ineligible_reason or "cannot carry a marker", path=path, tokens=tokens
        )
    if refusal == "below_minimum":
        detail = (
            f"prefix ~{p.cumulative_tokens} tokens < minimum {info.min_cache_tokens} for {info.model} "
            "(the provider would silently not cache it)"
        )
        return Decision("dropped", bp, "below_minimum", detail, path=path, tokens=tokens)
    if refusal == "duplicate":
        assert first is not None
        detail = f"same block as {first.bp.id or 'an earlier breakpoint'!r}"
        return Decision("merged", bp, "duplicate", detail, ttl=first.ttl, path=path, tokens=tokens)
    e = [e for e in view.breakpoints if e.position == position][-1]  # the last, as a dict by position keeps
    code = _MERGE_CODES[e.source]
    what = _MERGE_TEXT[code]
    if (e.ttl or info.default_ttl) != ttl:
        what += f"; its ttl {e.ttl or info.default_ttl} applies"
    return Decision("merged", bp, code, what, ttl=e.ttl or info.default_ttl, path=path, tokens=tokens)


def _ordered(
    view: PrefixView,
    info: ModelInfo,
    existing: Sequence[ExistingBreakpoint],
    kept: list[_Candidate],
    decisions: list[Decision] | None = None,
) -> list[_Candidate]:
    """Make TTLs non-increasing along the prefix without touching the request's own markers: the candidates that
    still fit, by position, their TTLs raised or lowered where needed. With ``decisions``, a candidate nothing
    valid fits is explained there and changed TTLs get notes (see `_kept`)."""
    explain = decisions is not None
    default = info.default_ttl
    fixed = [(e.position, _seconds(e.ttl, default)) for e in existing if e.source != "implicit"]
    result: list[_Candidate] = []
    later_max = 0
    later_label = default
    for c in sorted(kept, key=_at, reverse=True):
        position = c.bp.position
        need = later_max
        allowed = None
        if fixed:
            need = max([s for at, s in fixed if at > position] + [later_max])
            allowed = min([s for at, s in fixed if at < position], default=None)
            if allowed is not None and need > allowed:
                if decisions is not None:
                    detail = (
                        "markers already in the request force a longer TTL after a shorter one here; nothing valid fits"
                    )
                    p = view[position]
                    decisions.append(
                        Decision("dropped", c.bp, "ttl_order", detail, path=p.path, tokens=p.cumulative_tokens)
                    )
                continue
        seconds = _seconds(c.ttl, default)
        if seconds < need:
            label = later_label if need == later_max else _label_for(need, info)
            if explain:
                c.notes.append(
                    f"ttl_order: raised {c.ttl} to {label} because a {label} breakpoint follows (longer TTLs must "
                    "come first; free, since the later write covers this prefix at that TTL anyway)"
                )
            c.ttl, seconds = label, need
        if allowed is not None and seconds > allowed:
            label = _label_for(allowed, info)
            if explain:
                c.notes.append(
                    f"ttl_order: lowered {c.ttl} to {label} because an existing {label} marker comes earlier"
                )
            c.ttl, seconds = label, allowed
        if seconds > later_max:
            later_max, later_label = seconds, c.ttl
        result.append(c)
    result.reverse()
    return result


def _at(c: _Candidate) -> int:
    return c.bp.position


def _seconds(label: str | None, default: str) -> int:
    """A TTL in seconds; labels that are not durations (OpenAI's ``in_memory``) count as the shortest."""
    try:
        return ttl_seconds(label, default=default)
    except ValueError:
        return 0


def _label_for(seconds: int, info: ModelInfo) -> str:
    for label in info.ttls:
        if _is_duration(label) and ttl_seconds(label) == seconds:
            return label
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _check_existing_order(
    view: PrefixView, existing: Sequence[ExistingBreakpoint], info: ModelInfo, warnings: list[str]
) -> None:
    ordered = sorted((e for e in existing if e.source in ("marker", "automatic")), key=lambda e: e.position)
    shortest: tuple[int, int] | None = None
    for e in ordered:
        try:
            seconds = ttl_seconds(e.ttl, default=info.default_ttl)
        except ValueError:
            warnings.append(f"{view[e.position].path}: cache marker has an unknown ttl {e.ttl!r}")
            continue
        if shortest is not None and seconds > shortest[1]:
            warnings.append(
                f"{view[e.position].path}: existing marker with ttl {e.ttl} comes after a shorter one at "
                f"{view[shortest[0]].path}; longer TTLs must come first (the provider will reject it)"
            )
        if shortest is None or seconds < shortest[1]:
            shortest = (e.position, seconds)
