"""Where the analyzer's parallel work runs: one `WorkerPool` over a `concurrent.futures.Executor`.

Every piece of work handed to another process is a plain module-level function over plain data (strings,
numbers, bytes, lists and dicts: `cachepoint.core.analyze.shards.prepare_chunk`), submitted through
`WorkerPool.submit` and collected through `WorkerPool.result`. That is the one parallel path: chunks of lines go
out in file order and come back in that order, while this process replays what came back (the replay is
sequential, and streams: see `cachepoint.core.analyze.replay`).

By default the executor is a local `ProcessPoolExecutor` whose processes are started by multiprocessing's
``spawn`` method: a fresh interpreter, never a fork of the caller. A library call may come from a process with
threads (a web server, a notebook's kernel): a forked child inherits a copy of every lock those threads held at
that instant (the provider table's, logging's, an allocator's) and can block on it forever. (The
``forkserver`` method is safe too, but leaves a server process running after the call and makes the workers its
children rather than the caller's, out of the caller's own accounting: ``spawn`` costs a fraction of a second
per worker, paid while this process works on its own share.) Any other `concurrent.futures.Executor` can stand
in (a Dask ``Client.get_executor()``, a Ray pool) because nothing here depends on more than ``submit`` and
futures.

The arguments and results cross to the workers through the executor's own channel (multiprocessing pickles a
call and its result on its pipes). That is not the project's "no pickle" rule, which is about what cachepoint
stores (cache keys and values, which never go this way): here both ends are this process and its own children,
and the payloads are plain data and JSON bytes.

Work can name a *lane* (`WorkerPool.submit`'s ``lane``: a tenant, a conversation): the work of one lane always
runs in the same worker process, so what that worker memoizes for it (the view builder's pieces, the blocks it
has described) is warm when the lane's next piece of work arrives and is not built again in another worker. The
local pool is then one single-process executor per worker; lanes are dealt to the worker with the fewest lanes
when first seen, and work without a lane goes to the worker with the least work waiting. An executor given by the
caller places work itself: lanes are ignored there.

A worker that dies (killed by the out-of-memory killer, a signal, a crash) fails its work at once: the pool
watches every worker process, so `WorkerPool.result` raises `WorkerError` naming the work and how the process
ended instead of waiting for an answer that cannot come. A big result (``bytes``) of the local pool comes back
through a file, not the executor's pipe: the executor reads a result off its pipe with a blocking read, so a
worker killed half-way through writing one left it waiting for the rest for ever (and the interpreter's exit
with it, which joins the executor's threads). What crosses the pipe is then a few hundred bytes, which a pipe
writes whole or not at all (POSIX: a write of at most ``PIPE_BUF``, 4 KiB, is atomic).

There is no deadline on a live worker: its share of the work grows with the trace (and can be all of it), so any
fixed time would fail honest runs.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

__all__ = ["Job", "WorkerError", "WorkerPool", "collector_paused"]

T = TypeVar("T")


class WorkerError(RuntimeError):
    """A worker process of the analysis died (or the executor lost it) before it returned its work.

    >>> error = WorkerError("replaying 'auto'", "killed by SIGKILL")
    >>> str(error).split(". ")[0]
    "a worker process died while replaying 'auto' (killed by SIGKILL)"
    """

    def __init__(self, work: str, how: str) -> None:
        super().__init__(
            f"a worker process died while {work} ({how}). A process killed by SIGKILL is often the out-of-memory "
            "killer: run with fewer processes (jobs=1, `cachepoint analyze --jobs 1`). A script that passes jobs "
            "needs the `if __name__ == '__main__':` guard."
        )
        self.work = work
        self.how = how


class _Tracked:
    """A multiprocessing context that remembers the processes it starts (`ProcessPoolExecutor` takes any
    context as ``mp_context``), so the pool can say how a dead one ended and stop its own at the end."""

    def __init__(self, context: BaseContext) -> None:
        self._context = context
        self.processes: list[BaseProcess] = []

    def Process(self, *args: Any, **kwargs: Any) -> BaseProcess:  # noqa: N802 - the context's own name
        process: BaseProcess = self._context.Process(*args, **kwargs)  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _ending(process: BaseProcess) -> str | None:
    """How a finished process ended, in words (``None``: still running)."""
    code = process.exitcode
    if code is None:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# Results shorter than this cross the executor's pipe as they are (with the executor's own framing they stay
# well under PIPE_BUF); longer ones go through a file.
_INLINE = 1024


class _InFile:
    """A worker's result left in a file for the caller to read (and delete)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _to_file(directory: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a worker; a big ``bytes`` result is written to a new file in ``directory``."""
    result = fn(*args)
    if not isinstance(result, bytes) or len(result) <= _INLINE:
        return result
    handle, path = tempfile.mkstemp(dir=directory)
    with os.fdopen(handle, "wb") as out:
        out.write(result)
    return _InFile(path)


def _from_file(result: Any) -> Any:
    if not isinstance(result, _InFile):
        return result
    with open(result.path, "rb") as handle:
        data = handle.read()
    os.unlink(result.path)
    return data


class Job(Generic[T]):
    """Work handed to a worker: what it is (for errors) and its future."""

    __slots__ = ("future", "work")

    def __init__(self, work: str, future: Future[T]) -> None:
        self.work = work
        self.future = future


class WorkerPool:
    """Runs plain functions in worker processes; a worker that dies is a `WorkerError`, never a hang.

    Args:
        workers: processes of the local pool (started on the first `submit`).
        executor: any other `concurrent.futures.Executor` to run the work instead (it is not shut down here).

    >>> from operator import add
    >>> with WorkerPool(1) as pool:
    ...     pool.result(pool.submit("adding", add, 2, 3))
    5
    """

    def __init__(self, workers: int, *, executor: Executor | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected 1 or more, got {workers}")
        self.workers = workers
        self._given = executor
        self._context: _Tracked | None = None
        self._slots: list[Executor] = []  # the local pool: one single-process executor per worker
        self._waiting: list[deque[Future[Any]]] = []  # per worker, the futures handed to it (done ones pruned)
        self._lanes: dict[Hashable, int] = {}  # lane -> its worker
        self._directory: str | None = None  # where the local pool's workers leave big results

    def submit(self, work: str, fn: Callable[..., T], *args: Any, lane: Hashable | None = None) -> Job[T]:
        """Start ``fn(*args)`` in a worker: ``fn`` a module-level function, ``args`` plain data; ``work`` says
        what it does (``"preparing lines 1 to 128"``), for the error if its worker dies. Work of one ``lane``
        (any hashable: a tenant, a conversation) always runs in the same worker process of the local pool.

        >>> import os
        >>> with WorkerPool(2) as pool:
        ...     pids = [pool.result(pool.submit("asking", os.getpid, lane="tenant-a")) for _ in range(3)]
        >>> len(set(pids))
        1
        """
        try:
            if self._given is not None:
                return Job(work, self._given.submit(fn, *args))
            slot = self._slot(lane)
            future = self._slots[slot].submit(_to_file, self._directory or "", fn, *args)
            self._waiting[slot].append(future)
            return Job(work, future)
        except BrokenExecutor as exc:  # a worker died after its last result: the pool takes no more work
            raise WorkerError(work, self._how(exc)) from exc

    def _slot(self, lane: Hashable | None) -> int:
        """The worker for ``lane`` (``None``: the one with the least work waiting), starting the pool if need be."""
        if not self._slots:
            self._context = _Tracked(multiprocessing.get_context("spawn"))
            self._directory = tempfile.mkdtemp(prefix="cachepoint-analyze-")
            for _ in range(self.workers):
                self._slots.append(ProcessPoolExecutor(max_workers=1, mp_context=self._context))  # type: ignore[call-overload]
                self._waiting.append(deque())
        if lane is not None:
            found = self._lanes.get(lane)
            if found is None:
                counts = [0] * self.workers
                for taken in self._lanes.values():
                    counts[taken] += 1
                found = self._lanes[lane] = counts.index(min(counts))
            return found
        for waiting in self._waiting:
            while waiting and waiting[0].done():
                waiting.popleft()
        loads = [len(waiting) for waiting in self._waiting]
        return loads.index(min(loads))

    def result(self, job: Job[T]) -> T:
        """The result of ``job``: the function's own exception is raised as it is; a dead worker is a
        `WorkerError`."""
        try:
            return _from_file(job.future.result())  # type: ignore[no-any-return]
        except BrokenExecutor as exc:
            raise WorkerError(job.work, self._how(exc)) from exc

    def check(self, job: Job[Any]) -> None:
        """Raise `WorkerError` now if the worker running ``job`` has died: a cheap look for a caller busy with a
        share of its own, which then need not finish it to learn that the run cannot succeed."""
        if job.future.done() and isinstance(job.future.exception(), BrokenExecutor):
            self.result(job)

    def _how(self, exc: BaseException) -> str:
        endings = [e for e in map(_ending, self._context.processes if self._context else ()) if e]
        failed = [e for e in endings if e != "exit code 0"]
        return ", ".join(failed or endings) or str(exc) or type(exc).__name__

    def close(self, *, wait: bool = True) -> None:
        """Stop the local pool: its processes hold nothing the caller needs once the results are in, so they are
        stopped rather than left to free their memory object by object (``wait``: for them to go)."""
        slots, self._slots = self._slots, []
        self._waiting, self._lanes = [], {}
        if not slots:
            return
        for executor in slots:
            executor.shutdown(wait=False, cancel_futures=True)
        assert self._context is not None
        started = [p for p in self._context.processes if p.pid is not None]
        for process in started:
            if process.exitcode is None:
                process.kill()
        if wait:
            for process in started:
                process.join()
            # Join the executors' management threads too: left running after a worker died, one is woken at
            # interpreter exit through a pipe it has already closed, and Python prints that traceback on exit.
            for executor in slots:
                executor.shutdown(wait=True)
        if self._directory is not None:  # results never collected, and what a killed worker was writing
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Switch the cyclic garbage collector off for the block and back on after it, however it ends (it is left
    off if it was off). The analysis keeps millions of small objects alive to the end and allocates without
    pause: the collector would rescan them all again and again, for nothing to free.

    >>> with collector_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    collecting = gc.isenabled()
    try:
        gc.disable()
        yield
    finally:
        if collecting:
            gc.enable()
