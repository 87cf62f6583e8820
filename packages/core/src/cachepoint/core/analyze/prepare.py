"""Per-request work of the analyzer: parse once, view once, place every strategy, keep compact columns.

Everything here depends on one trace line only, so it runs in parallel (a process pool for large traces). What
comes out, `Prepared`, is what the replay needs: the prefix view's columns (prefix hashes, block hashes, token
counts, lookback indexes, layers, paths), the breakpoints of every scenario, the observed usage, and the
fingerprints of blocks this worker has not described yet. It crosses process boundaries as plain JSON (orjson),
never pickle.
"""

from __future__ import annotations

import operator
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from cachepoint.core.analyze.fingerprints import BlockPrint, block_print
from cachepoint.core.analyze.scenarios import Scenario, place_breakpoints, scenarios_for, unmarked
from cachepoint.core.lru import LRU
from cachepoint.core.prompt import Position, RequestFormatError, ViewBuilder
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.providers import ModelInfo, ProviderTable, UnknownModelWarning, model_info, normalize_provider
from cachepoint.core.simulate import SimBreakpoint
from cachepoint.core.tokens import TokenCounter
from cachepoint.core.traces import TraceFormatError, TraceRecord, infer_provider, parse_line
from cachepoint.core.usage import UsageFormatError, normalize_usage

__all__ = ["SIMULATED_PROVIDERS", "Observed", "PrepareContext", "Prepared", "decode_batch", "encode_batch"]

#: Providers the simulator models.
SIMULATED_PROVIDERS = ("anthropic", "bedrock", "openai", "vllm", "sglang")
_ENGINES = ("vllm", "sglang")
_HASH = 16  # hex digits kept of each 64-digit hash: collisions stay negligible (2**-64 per pair)
_LAYER_CODES = {"tools": "t", "system": "s"}
_VIEW_MEMO = 16_000  # entries of the view builder's memos
# And the bytes they count: 2.5x the 96 MiB they had when the builder counted 2 to 2.4x less per entry than now
# (sessions, messages, chunks: `ViewBuilder` counts what its entries really hold since), so its memos keep what they
# kept (the entry bound is reached first, as before); they hold less than before, having shed orjson's slack.
_VIEW_MEMO_BYTES = 240 * 2**20
_COLUMNS_MEMO = 2_048  # recent requests whose columns a next turn may take over (conversations in progress)
_PROBES = 64  # positions of a request, from its end, looked up for the earlier turn it continues


class Observed(NamedTuple):
    """The usage a trace line reported, as numbers (``None``: not reported).

    >>> Observed(1510, 1200, 300, {"5m": 300}, 5).input
    1510
    """

    input: int | None
    read: int | None
    write: int | None
    write_by_ttl: dict[str, int]
    output: int | None


class Prepared(NamedTuple):
    """One request, ready to replay (see the module notes).

    ``layers`` has one letter per position: ``t`` tool, ``s`` system block, ``y`` system/developer message of
    an OpenAI format, ``m`` conversation; ``stable`` has ``1`` where the block is stable (tools and system by
    default, and messages marked stable). ``placements`` and ``keys`` run parallel to the scenarios:
    breakpoints as ``(position, ttl or None, implicit)`` and the OpenAI ``prompt_cache_key``.
    """

    line: int
    offset: int
    time: float | None
    ttft: float | None
    tenant: str
    session: str | None
    provider: str
    model: str
    format: str
    known: bool
    hashes: tuple[str, ...]
    blocks: tuple[str, ...]
    cumulative: tuple[int, ...]
    lookback: tuple[int, ...]
    layers: str
    stable: str
    paths: tuple[str, ...]
    placements: tuple[tuple[SimBreakpoint, ...], ...]
    keys: tuple[str | None, ...]
    retention: str | None
    cache_mode: str | None
    observed: Observed | None
    output: int
    prints: dict[str, BlockPrint]
    ignored: tuple[str, ...]

    @property
    def total(self) -> int:
        """Estimated prompt tokens."""
        return self.cumulative[-1] if self.cumulative else 0

    def tokens_before(self, position: int) -> int:
        """Tokens of the prefix before ``position`` (0 for the first)."""
        return self.cumulative[position - 1] if position > 0 else 0


class PrepareContext:
    """Settings and memo tables of one worker: overrides, scenarios, counter, model rules, blocks described.

    >>> ctx = PrepareContext(strategies=["auto"])
    >>> p = ctx.prepare_line(b'{"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Be brief.", '
    ...                      b'"messages": [{"role": "user", "content": "Hi"}]}', line=1, offset=0)
    >>> p.provider, p.format, p.layers, len(p.placements), len(p.prints)
    ('anthropic', 'anthropic', 'sm', 3, 2)
    """

    def __init__(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        strategies: Sequence[str] | None = None,
        scenarios: Sequence[Scenario] | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
        memo: int = 50_000,
    ) -> None:
        self.provider = normalize_provider(provider) if provider else None
        if self.provider is not None and self.provider not in SIMULATED_PROVIDERS:
            raise ValueError(
                f"provider: {provider!r} is not simulated (expected one of {', '.join(SIMULATED_PROVIDERS)})"
            )
        self.model = model
        self.scenarios = (
            list(scenarios) if scenarios is not None else scenarios_for(*([strategies] if strategies else []))
        )
        self.counter = counter
        self.table = table
        # Requests of a trace repeat each other (the same tools and system, the conversation so far): the builder
        # parses and views each distinct piece once (see `cachepoint.core.prompt.ViewBuilder`).
        # Its memos need to hold the conversations in progress only (a few hundred at a time in a busy trace),
        # not its default budget: with the analysis streaming, they are most of what a worker keeps.
        self.builder = ViewBuilder(counter=counter, table=table, max_entries=_VIEW_MEMO, max_bytes=_VIEW_MEMO_BYTES)
        self._infos: dict[tuple[str, str, str], tuple[ModelInfo, bool]] = {}
        # Blocks whose fingerprint this context has sent. One forgotten is described again (the replay stores the
        # same fingerprint again), so the bound only trades a little work for memory: 50,000 holds the
        # blocks of the conversations in progress and cut the peak RSS of 100k requests by ~13 MB against
        # 200,000, at the same CPU (docs/benchmarks.md).
        self._described: LRU[str, bool] = LRU(memo)
        # The columns of recent requests, by the prefix hash of their last position: a conversation's next turn
        # takes over what it shares with the previous one (`_columns_of`). It needs the conversations in progress.
        self._columns: LRU[str, _Columns] = LRU(_COLUMNS_MEMO)

    def info(self, provider: str, model: str, fmt: str) -> tuple[ModelInfo, bool]:
        """The model's rules as the payload format expresses them, and whether the table knows the model."""
        key = (provider, model, fmt)
        found = self._infos.get(key)
        if found is None:
            rules = "openai" if provider in _ENGINES else provider
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownModelWarning)
                info = model_info(rules, model, table=self.table)
            found = self._infos[key] = (get_format(fmt).effective_info(info), info.known)
        return found

    def prepare_line(self, raw: bytes | Mapping[str, Any], *, line: int, offset: int) -> Prepared:
        """Decode, check and prepare one trace line (errors are `TraceFormatError` naming line and field)."""
        return self.prepare(parse_line(raw, line=line, offset=offset))

    def prepare(self, record: TraceRecord) -> Prepared:  # noqa: PLR0912, PLR0915 - one pass, kept together
        """Prepare one record."""
        line = record.line or 0
        hint = self.provider or record.provider
        try:
            # The shape decides, the body's model id settles close calls (detect_format), a provider given by
            # the envelope or --provider counts too.
            request = self.builder.parse(record.request, provider=hint)
        except RequestFormatError as exc:
            raise TraceFormatError(record.line, record.field_path(exc.path), exc.detail) from None
        if hint is None:
            body_model = self.model or record.model or request.model
            hint = infer_provider(body_model) or {"anthropic": "anthropic", "bedrock": "bedrock"}.get(
                request.format, "openai"
            )
        provider = hint
        if provider not in SIMULATED_PROVIDERS:
            raise TraceFormatError(
                record.line,
                "provider",
                f"{provider!r} is not simulated (expected one of {', '.join(SIMULATED_PROVIDERS)}); pass --provider",
            )
        model = self.model or record.model or request.model
        if not model:
            raise TraceFormatError(
                record.line, record.field_path("model"), "the request names no model: pass --model, or set model"
            )
        info, known = self.info(provider, model, request.format)
        engine = provider in _ENGINES
        view = self.builder.positions(request, info=None if engine else info)
        positions = view.positions
        if not positions:
            raise TraceFormatError(record.line, record.field_path("messages"), "the request has no content to cache")

        placements: list[tuple[SimBreakpoint, ...]] = []
        keys: list[str | None] = []
        recorded_key = request.params.get("prompt_cache_key")
        recorded_key = recorded_key if isinstance(recorded_key, str) and recorded_key else None
        clean = unmarked(view)
        for scenario in self.scenarios:
            if scenario.kind == "recorded":
                recorded = (SimBreakpoint(b.position, b.ttl, b.source == "implicit") for b in view.breakpoints)
                placements.append(tuple(recorded))
                keys.append(recorded_key)
            elif scenario.kind == "none" or engine or scenario.strategy is None:
                placements.append(())
                keys.append(recorded_key)
            else:
                found, key = place_breakpoints(clean, scenario.strategy, info=info, provider=provider)
                placements.append(found)
                keys.append(key)

        columns = self._columns_of(positions)
        blocks = columns.blocks
        prints: dict[str, BlockPrint] = {}
        seen = self._described.touch
        remember = self._described.put
        for i, block in enumerate(blocks):
            if seen(block):
                continue
            item = request.get(positions[i].locator)
            prints[block] = block_print(item.data)
            remember(block, True)

        observed = None
        output = 0
        if record.usage is not None:
            try:
                usage = normalize_usage(record.usage, provider=provider, model=model)
            except UsageFormatError as exc:
                raise TraceFormatError(record.line, f"usage.{exc.path}", exc.problem) from None
            observed = Observed(
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                dict(usage.cache_write_by_ttl),
                usage.output_tokens,
            )
            output = usage.output_tokens or 0

        options = request.params.get("prompt_cache_options")
        mode = options.get("mode") if isinstance(options, Mapping) else None
        retention = request.params.get("prompt_cache_retention")
        return Prepared(
            line=line,
            offset=record.offset or 0,
            time=record.timestamp,
            ttft=record.ttft_s,
            tenant=record.tenant or "default",
            session=record.session,
            provider=provider,
            model=model,
            format=request.format,
            known=known,
            hashes=columns.hashes,
            blocks=blocks,
            cumulative=columns.cumulative,
            lookback=columns.lookback,
            layers=columns.layers,
            stable=columns.stable,
            paths=columns.paths,
            placements=tuple(placements),
            keys=tuple(keys),
            retention=retention if isinstance(retention, str) else None,
            cache_mode=mode if isinstance(mode, str) else None,
            observed=observed,
            output=output,
            prints=prints,
            ignored=record.ignored,
        )

    def _columns_of(self, positions: tuple[Position, ...]) -> _Columns:
        """The columns of ``positions``, reusing those of an earlier request that starts with the same positions.

        A session's next turn is its previous turn plus a message or two, and the view builder hands back the
        previous turn's `Position` objects for the part they share (`ViewBuilder`). Each column entry depends on
        its position alone, so where the two requests hold the *same objects* the previous columns are sliced
        instead of computed again. Sameness is checked by identity, never by hash: two positions with equal
        prefix hashes can still differ (a path of ``content`` written as a string or a list), the same object
        cannot. The earlier request is found by the prefix hash of one of this request's positions (the
        previous turn ended at one of them), looked up from the end.
        """
        memo = self._columns
        peek = memo.peek  # the dictionary's own lookup: most probes miss
        count = len(positions)
        start = 0
        base = None
        for i in range(count - 1, max(count - _PROBES, 0) - 1, -1):
            key = positions[i].prefix_hash
            found = peek(key)
            if found is not None:
                base = found
                same = list(map(operator.is_, found.positions, positions))
                try:
                    start = same.index(False)
                except ValueError:
                    start = len(same)
                if start == len(found.positions):
                    memo.pop(key)  # continued whole: this request's columns take its place
                else:
                    memo.touch(key)  # a branch of the conversation: the earlier turn may be continued again
                break
        # One copy of each hash and path: a session's turns repeat most of them, and the replay keeps a window of
        # requests alive (`decode_batch` does the same for requests prepared by workers).
        keep = sys.intern
        new = positions[start:] if start else positions
        hashes = tuple([keep(p.prefix_hash[:_HASH]) for p in new])
        blocks = tuple([keep(p.block_hash[:_HASH]) for p in new])
        cumulative = tuple([p.cumulative_tokens for p in new])
        lookback = tuple([p.lookback_index for p in new])
        codes = _LAYER_CODES
        layers = "".join([codes.get(p.section) or ("y" if p.layer == "system" else "m") for p in new])
        stable = "".join(["1" if p.stable else "0" for p in new])
        paths = tuple([keep(p.path) for p in new])
        if start:
            assert base is not None
            hashes = base.hashes[:start] + hashes
            blocks = base.blocks[:start] + blocks
            cumulative = base.cumulative[:start] + cumulative
            lookback = base.lookback[:start] + lookback
            layers = base.layers[:start] + layers
            stable = base.stable[:start] + stable
            paths = base.paths[:start] + paths
        columns = _Columns(positions, hashes, blocks, cumulative, lookback, layers, stable, paths)
        if count:
            memo.put(positions[-1].prefix_hash, columns)
        return columns


class _Columns(NamedTuple):
    """A prepared request's columns, and the positions they were read from (see `PrepareContext._columns_of`)."""

    positions: tuple[Position, ...]
    hashes: tuple[str, ...]
    blocks: tuple[str, ...]
    cumulative: tuple[int, ...]
    lookback: tuple[int, ...]
    layers: str
    stable: str
    paths: tuple[str, ...]


# --- transport between processes: plain JSON ---------------------------------------------------------------------


def encode_batch(items: Sequence[Prepared | TraceFormatError]) -> bytes:
    """A batch of prepared requests (and line errors) as JSON bytes."""
    rows: list[Any] = []
    for item in items:
        if isinstance(item, TraceFormatError):
            rows.append(["error", item.line, item.path, item.detail])
        else:
            row: list[Any] = list(item)  # orjson writes tuples, not named tuples: flatten the nested ones
            row[17] = [[tuple(b) for b in bps] for bps in item.placements]
            row[21] = list(item.observed) if item.observed is not None else None
            row[-2] = {k: list(v) for k, v in item.prints.items()}
            rows.append(row)
    return orjson.dumps(rows)


def decode_batch(data: bytes) -> list[Prepared | TraceFormatError]:
    """The inverse of `encode_batch`. Hashes and paths are interned: requests of a session repeat most of them,
    and one copy of each is kept instead of one per request."""
    keep = sys.intern
    out: list[Prepared | TraceFormatError] = []
    for row in orjson.loads(data):
        if row[0] == "error":
            out.append(TraceFormatError(row[1], row[2], row[3]))
            continue
        observed = row[21]
        out.append(
            Prepared(
                line=row[0],
                offset=row[1],
                time=row[2],
                ttft=row[3],
                tenant=row[4],
                session=row[5],
                provider=row[6],
                model=row[7],
                format=row[8],
                known=row[9],
                hashes=tuple(map(keep, row[10])),
                blocks=tuple(map(keep, row[11])),
                cumulative=tuple(row[12]),
                lookback=tuple(row[13]),
                layers=row[14],
                stable=row[15],
                paths=tuple(map(keep, row[16])),
                placements=tuple(tuple(SimBreakpoint(b[0], b[1], b[2]) for b in bps) for bps in row[17]),
                keys=tuple(row[18]),
                retention=row[19],
                cache_mode=row[20],
                observed=Observed(*observed) if observed is not None else None,
                output=row[22],
                prints={k: BlockPrint(v[0], v[1], v[2], v[3], tuple(v[4])) for k, v in row[23].items()},
                ignored=tuple(row[24]),
            )
        )
    return out
