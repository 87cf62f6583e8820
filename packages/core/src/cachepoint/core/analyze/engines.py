"""Where per-shard work runs: this machine's processes (the default), or a Dask cluster (``engine="dask"``, the
``cachepoint-core[distributed]`` extra).

A provider's prompt cache never crosses a tenant (an organisation, an API key, an AWS account), so a trace
splits into independent shards by tenant (`shard_by_tenant`), and a shard's analysis (`analyze_shard`) does
not depend on where it runs. `map_shards` runs a function over shards on an engine and returns the results in
shard order. Shards and results are JSON bytes (a shard is JSONL: a header line with the analysis options, then
the trace's own lines; a result is the shard's JSON report), so what crosses to a worker, local or remote, is
bytes and a reference to a module-level function of this package, never an object of ours to rebuild.

Both engines go through `cachepoint.core.analyze.workers.WorkerPool` (the analyzer's one parallel path): the
local one over its spawned process pool, Dask's over the ``concurrent.futures`` executor a
``distributed.Client`` hands out. Without an ``address`` the Dask engine starts a ``distributed.LocalCluster``
on this machine for the call (what CI tests); with one (``tcp://scheduler:8786``) it uses that cluster, whose
workers need ``cachepoint-core`` installed, at the same version.

Why Dask rather than Ray (docs/guides/analyze.md says more): pure Python wheels of a few MB next to Ray's
hundreds of MB, a local cluster that starts in a few seconds, and a ``concurrent.futures`` executor that plugs
into the pool the analyzer already has.
"""

from __future__ import annotations

import importlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from typing import Any, Literal, TypeVar

import orjson

from cachepoint.core.analyze.report import ScenarioResult
from cachepoint.core.analyze.workers import Job, WorkerPool

__all__ = [
    "ENGINES",
    "EngineError",
    "ShardFn",
    "analyze_shard",
    "make_shard",
    "map_shards",
    "merge_scenarios",
    "shard_by_tenant",
]

T = TypeVar("T")

#: The engines `map_shards` runs on.
ENGINES = ("local", "dask")
#: A function run on one shard: JSON bytes in, JSON bytes out; module-level, so a worker can import it.
ShardFn = Callable[[bytes], bytes]
#: The tenant of lines that name none (the analyzer's own default).
_DEFAULT_TENANT = "default"
#: The analysis options a shard may carry (`cachepoint.core.analyze.analyze` keywords over plain data).
_OPTIONS = frozenset({"provider", "model", "strategies", "focus", "interval", "skip_invalid", "examples"})


class EngineError(ValueError):
    """An engine that cannot run: unknown, or its package not installed.

    >>> str(EngineError("spark: expected one of local, dask"))
    'spark: expected one of local, dask'
    """


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _Scattering(Executor):
    """A Dask ``ClientExecutor`` that sends each shard to the cluster on its own before the task that reads it
    (``Client.scatter``): put inside the task, megabytes of shard would travel in the task graph, through the
    scheduler, which Dask warns against."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._executor = client.get_executor()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        sent = [self._client.scatter(a) if isinstance(a, bytes) else a for a in args]
        future: Future[T] = self._executor.submit(fn, *sent, **kwargs)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)


def _dask_pool(stack: ExitStack, workers: int, address: str | None) -> WorkerPool:
    try:
        # Typed as Any: distributed ships no annotations for its constructors (mypy --strict would reject calls).
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise EngineError(
            "engine 'dask' needs the distributed package: pip install 'cachepoint-core[distributed]'"
        ) from None
    if address is None:
        # One thread per worker process: the work is pure Python, so threads would only take turns on the GIL.
        cluster = stack.enter_context(
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        )
        client = stack.enter_context(distributed.Client(cluster))
    else:
        client = stack.enter_context(distributed.Client(address))
    return WorkerPool(workers, executor=_Scattering(client))


def map_shards(
    fn: ShardFn,
    shards: Iterable[bytes],
    engine: Literal["local", "dask"] | str = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[bytes]:
    """``fn(shard)`` for every shard, on ``engine``, in shard order. A few shards per worker are in flight at a
    time, so the shards can be produced as they are consumed. The workers are other processes, started by
    ``spawn``: a script that calls this needs the ``if __name__ == "__main__":`` guard. A function that raises
    raises here, with its own exception; a local worker that dies is a `WorkerError`.

    Args:
        fn: a module-level function (a worker imports it by name), JSON bytes to JSON bytes.
        shards: the shards, as bytes.
        engine: ``"local"``: processes on this machine; ``"dask"``: a Dask cluster (see ``address``).
        workers: worker processes (default: one per core); for a Dask cluster at ``address``, only how many
            shards are kept in flight.
        address: a Dask scheduler's address; ``None`` starts a ``LocalCluster`` for this call.

    >>> list(map_shards(bytes.upper, [b'["a"]', b'["b"]'], workers=1))
    [b'["A"]', b'["B"]']
    """
    if engine not in ENGINES:
        raise EngineError(f"{engine}: expected one of {', '.join(ENGINES)}")
    count = workers if workers is not None else _cores()
    if count < 1:
        raise EngineError(f"workers: expected 1 or more, got {count}")
    with ExitStack() as stack:
        pool = _dask_pool(stack, count, address) if engine == "dask" else WorkerPool(count)
        stack.callback(pool.close)
        pending: deque[Job[bytes]] = deque()
        for number, shard in enumerate(shards, start=1):
            pending.append(pool.submit(f"running shard {number} on {engine}", fn, shard))
            while len(pending) >= 2 * count:
                yield pool.result(pending.popleft())
        while pending:
            yield pool.result(pending.popleft())


def _tenant(raw: bytes) -> str:
    """The tenant a line names (``"default"`` for none, or for a line that is no JSON object: the analysis of
    its shard reports it)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _DEFAULT_TENANT
    tenant = data.get("tenant") if isinstance(data, dict) and isinstance(data.get("request"), dict) else None
    return tenant if isinstance(tenant, str) and tenant else _DEFAULT_TENANT


def make_shard(lines: Iterable[bytes], options: Mapping[str, Any] | None = None) -> bytes:
    """A shard: a header line with the analysis options, then the trace lines (each ending in a newline).

    >>> make_shard([b'{"request": {"messages": []}}'], {"strategies": ["auto"]}).splitlines()[0]
    b'{"cachepoint_shard":1,"options":{"strategies":["auto"]}}'
    """
    unknown = set(options or {}) - _OPTIONS
    if unknown:
        expected = ", ".join(sorted(_OPTIONS))
        raise ValueError(f"options: unknown {', '.join(sorted(unknown))}; expected some of {expected}")
    header = orjson.dumps({"cachepoint_shard": 1, "options": dict(options or {})})
    return b"".join([header, b"\n", *(line if line.endswith(b"\n") else line + b"\n" for line in lines)])


def shard_by_tenant(lines: Iterable[bytes], options: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """Split trace lines into one shard per tenant (see `make_shard`), tenants in order of first appearance and
    each shard's lines in trace order. Blank lines are dropped; a line that is not JSON goes to the
    ``"default"`` tenant's shard, whose analysis reports it.

    >>> shards = shard_by_tenant([b'{"request": {"messages": []}, "tenant": "a"}', b'{"request": {}}'])
    >>> list(shards), shards["a"].count(b"\\n")
    (['a', 'default'], 2)
    """
    split: dict[str, list[bytes]] = {}
    for raw in lines:
        if raw and not raw.isspace():
            split.setdefault(_tenant(raw), []).append(raw)
    return {tenant: make_shard(part, options) for tenant, part in split.items()}


def analyze_shard(shard: bytes) -> bytes:
    """Worker: the JSON report (`cachepoint.core.analyze.report.AnalysisReport.to_json`) of one shard, analyzed in
    this process.

    >>> import json
    >>> line = b'{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}}'
    >>> json.loads(analyze_shard(make_shard([line], {"strategies": ["auto"]})))["trace"]["requests"]
    1
    """
    from cachepoint.core.analyze.run import analyze

    header, _, body = shard.partition(b"\n")
    meta = orjson.loads(header)
    if not isinstance(meta, dict) or meta.get("cachepoint_shard") != 1:
        raise ValueError('shard: expected a first line {"cachepoint_shard": 1, "options": {...}}')
    options = meta.get("options") or {}
    lines: Sequence[bytes] = body.splitlines(keepends=True)
    report = analyze(lines, jobs=1, **options)
    return report.to_json(indent=False).encode("utf-8")


def _total(values: Iterable[float | None]) -> float | None:
    items = list(values)
    return None if any(v is None for v in items) else sum(v for v in items if v is not None)


def merge_scenarios(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scenario table of several shards' JSON reports (`analyze_shard` results, decoded) as one trace's:
    requests, hits, writes and tokens summed (exact: no cache crosses a tenant, so each shard's tallies are its
    requests' own), rates recomputed from the sums, costs summed (``None`` if any shard's is unknown; a sum of
    floats in another order than one run's, so equal to its last digits at most). Scenarios in the first
    report's order; each must be in every report (the shards were analyzed with the same options).

    >>> one = {"scenarios": [{"name": "auto", "kind": "strategy", "label": "auto", "spec": "auto()",
    ...        "requests": 2, "hit_requests": 1, "write_requests": 1, "tokens": {"input": 10, "cache_read": 5,
    ...        "cache_write": 5, "output": 0, "cache_write_by_ttl": {"5m": 5}}, "cost_usd": None,
    ...        "without_cache_usd": None, "unpriced_requests": 2}]}
    >>> [(s["requests"], s["hit_rate"], s["tokens"]["cache_write_by_ttl"]) for s in merge_scenarios([one, one])]
    [(4, 0.5, {'5m': 10})]
    """
    if not reports:
        return []
    merged = []
    for first in reports[0]["scenarios"]:
        name = first["name"]
        same = []
        for report in reports:
            found = next((s for s in report["scenarios"] if s["name"] == name), None)
            if found is None:
                raise ValueError(f"scenario {name!r}: missing from a shard's report (analyzed with other options?)")
            same.append(found)
        by_ttl: dict[str, int] = {}
        for scenario in same:
            for ttl, tokens in scenario["tokens"]["cache_write_by_ttl"].items():
                by_ttl[ttl] = by_ttl.get(ttl, 0) + tokens
        result = ScenarioResult(
            name=name,
            kind=first["kind"],
            label=first["label"],
            spec=first["spec"],
            requests=sum(s["requests"] for s in same),
            hit_requests=sum(s["hit_requests"] for s in same),
            write_requests=sum(s["write_requests"] for s in same),
            input_tokens=sum(s["tokens"]["input"] for s in same),
            cache_read_tokens=sum(s["tokens"]["cache_read"] for s in same),
            cache_write_tokens=sum(s["tokens"]["cache_write"] for s in same),
            output_tokens=sum(s["tokens"]["output"] for s in same),
            cache_write_by_ttl=by_ttl,
            cost_usd=_total(s["cost_usd"] for s in same),
            without_cache_usd=_total(s["without_cache_usd"] for s in same),
            unpriced_requests=sum(s["unpriced_requests"] for s in same),
        )
        merged.append(result.to_dict())
    return merged
