"""Where per-shard work runs: this machine's processes (the default), or a Dask cluster (``engine="dask"``, the
``cachepoint-core[distributed]`` extra).

`map_shards` runs a function over shards on an engine and returns the results in shard order. What
`cachepoint analyze --engine` runs on it is `cachepoint.core.analyze.sharded.analyze_tenant`: one tenant's
requests in (a provider cache never crosses a tenant), that tenant's replay tally out, both JSON bytes, so what
crosses to a worker, local or remote, is bytes and a reference to a module-level function of this package, never
an object of ours to rebuild.

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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from typing import Any, Literal, TypeVar

from cachepoint.core.analyze.workers import Job, WorkerPool

__all__ = ["ENGINES", "SCHEDULER_TIMEOUT", "EngineError", "ShardFn", "map_shards"]

T = TypeVar("T")

#: The engines `map_shards` runs on.
ENGINES = ("local", "dask")
#: A function run on one shard: JSON bytes in, JSON bytes out; module-level, so a worker can import it.
ShardFn = Callable[[bytes], bytes]
#: Seconds to wait for a Dask scheduler to answer before giving up with an `EngineError`.
SCHEDULER_TIMEOUT = 8.0


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
        try:
            client = stack.enter_context(distributed.Client(address, timeout=SCHEDULER_TIMEOUT))
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise EngineError(
                f"--dask-scheduler {address!r}: no Dask scheduler answered there within {SCHEDULER_TIMEOUT:g}s "
                f"(expected an address like tcp://host:8786): {exc}"
            ) from None
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
