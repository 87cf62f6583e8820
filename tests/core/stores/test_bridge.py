"""The sync bridge: no loop, inside a running loop, many threads, after fork, timeouts and errors."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from cachepoint.core import bridge
from cachepoint.core.bridge import run_sync
from cachepoint.core.stores import MemoryStore, SyncStore


async def _thread_name() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


def test_runs_with_no_event_loop() -> None:
    assert run_sync(_thread_name) == "cachepoint-bridge"
    assert run_sync(_thread_name()) == "cachepoint-bridge"  # a coroutine object works too


async def test_runs_inside_a_running_loop_without_deadlock() -> None:
    # A sync library called from async code (Jupyter cell, async web handler): the caller's loop is busy,
    # the bridge's loop is not.
    with SyncStore(MemoryStore(max_entries=10)) as store:
        store.set("k", b"v")
        assert store.get("k") == b"v"
    assert run_sync(_thread_name) == "cachepoint-bridge"


def test_sixteen_threads_at_once() -> None:
    store = SyncStore(MemoryStore(max_entries=10_000))
    barrier = threading.Barrier(16)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(200):
                store.set(f"t{n}:{i}", str(i).encode())
            got = store.get_many([f"t{n}:{i}" for i in range(200)])
            assert got == [str(i).encode() for i in range(200)]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.size() == 16 * 200
    store.close()


def test_exceptions_propagate_unchanged() -> None:
    async def boom() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        run_sync(boom)

    async def own_timeout() -> None:
        raise TimeoutError("from the coroutine")

    with pytest.raises(TimeoutError, match="from the coroutine"):
        run_sync(own_timeout, timeout=30)


def test_timeout_cancels_the_work() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match="did not finish within"):
        run_sync(slow, timeout=0.05)
    assert cancelled.wait(10)


def test_calling_from_the_bridge_loop_raises_instead_of_deadlocking() -> None:
    async def nested() -> None:
        run_sync(_thread_name)

    with pytest.raises(RuntimeError, match="would deadlock"):
        run_sync(nested, timeout=10)


def test_shutdown_then_restart() -> None:
    assert run_sync(_thread_name) == "cachepoint-bridge"
    bridge.shutdown()
    assert run_sync(_thread_name) == "cachepoint-bridge"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: "process is multi-threaded, fork()..."
def test_child_process_gets_its_own_bridge_after_fork() -> None:
    run_sync(_thread_name)  # the parent's bridge thread is running
    pid = os.fork()
    if pid == 0:  # child: the parent's bridge thread does not exist here
        code = 1
        try:
            # Without the at-fork reset these calls would wait forever on a thread that is not there.
            with SyncStore(MemoryStore(max_entries=10), timeout=10) as store:
                store.set("k", b"child")
                ok = store.get("k") == b"child" and run_sync(_thread_name, timeout=10) == "cachepoint-bridge"
                code = 0 if ok else 2
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert run_sync(_thread_name) == "cachepoint-bridge"  # the parent's bridge still works
