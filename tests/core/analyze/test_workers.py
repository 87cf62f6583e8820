"""Worker processes of the analysis: never forked from a library caller, a dead one is a clear error, the garbage
collector and the process table are left as they were found."""

from __future__ import annotations

import gc
import lzma
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from cachepoint.core.analyze import AnalysisReport, analyze
from cachepoint.core.analyze.workers import WorkerPool
from cachepoint.core.simulate import EngineOptions, OpenAIOptions
from cachepoint.core.traces import TraceFormatError

TRACES = Path(__file__).parents[3] / "examples" / "traces"

# Every fork of this process, as the interpreter announces it (`os.register_at_fork` is called before any
# `os.fork` and fork-based start of a process; starting a program, as spawn does, is not a fork).
_FORKS: list[int] = []
os.register_at_fork(before=lambda: _FORKS.append(os.getpid()))


def _same(a: AnalysisReport, b: AnalysisReport) -> None:
    left, right = a.to_dict(), b.to_dict()
    left.pop("elapsed_s")
    right.pop("elapsed_s")
    assert left == right


@pytest.fixture(scope="module")
def big_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The support agent's trace six times over (each copy its own sessions, on the next day, so the trace stays
    in start order): long enough that both processes are still at work when a test interferes."""
    with lzma.open(TRACES / "support_agent.jsonl.xz") as handle:
        rows = [orjson.loads(line) for line in handle.read().splitlines()]
    path = tmp_path_factory.mktemp("workers") / "support_x6.jsonl"
    with open(path, "wb") as out:
        for copy in range(6):
            for row in rows:
                day = row["timestamp"].replace("2026-11-23", f"2026-11-{23 + copy}")
                out.write(orjson.dumps({**row, "session": f"{row.get('session')}-{copy}", "timestamp": day}) + b"\n")
    return path


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except FileNotFoundError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _workers() -> list[int]:
    """Live processes doing the analysis' work below this one: children and grandchildren, but not the helpers
    multiprocessing keeps for itself (its resource tracker and the forkserver, whose children are workers)."""
    out = []
    for child in _children(os.getpid()):
        command = _cmdline(child)
        if "resource_tracker" in command:
            continue
        if "forkserver" in command:
            out.extend(_children(child))
        else:
            out.append(child)
    return [pid for pid in out if _alive(pid)]


def _kill_workers_at(phase: str) -> tuple[Callable[[str, int, int | None], None], list[int]]:
    killed: list[int] = []

    def progress(now: str, done: int, total: int | None) -> None:
        if now != phase or killed:
            return
        deadline = time.monotonic() + 10
        while not (found := _workers()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in found:
            os.kill(pid, signal.SIGKILL)
        killed.extend(found)

    return progress, killed


def test_a_library_call_from_a_process_with_threads_never_forks(big_trace: Path) -> None:
    # An application thread is running (a server, a notebook's kernel): a fork would copy the locks it holds.
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        serial = analyze(big_trace, jobs=1)
        del _FORKS[:]
        _same(serial, analyze(big_trace, jobs=2))
        records = [orjson.loads(line) for line in big_trace.read_bytes().splitlines()[:600]]
        _same(analyze(records, jobs=1), analyze(records, jobs=2))
    finally:
        stop.set()
        thread.join()
    assert _FORKS == []


def test_a_worker_killed_while_preparing_is_a_clear_error(big_trace: Path) -> None:
    progress, killed = _kill_workers_at("reading")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker process died while preparing .*killed by SIGKILL"):
        analyze(big_trace, jobs=2, progress=progress)
    assert killed
    assert time.monotonic() - started < 60
    assert gc.isenabled()


def test_a_worker_killed_while_replaying_is_a_clear_error(big_trace: Path) -> None:
    # The replay streams: while this process replays, the workers prepare the next chunks of lines.
    progress, killed = _kill_workers_at("replaying")
    with pytest.raises(RuntimeError, match=r"worker process died while preparing .*killed by SIGKILL"):
        analyze(big_trace, jobs=2, progress=progress)
    assert killed
    assert gc.isenabled()


def test_no_worker_is_left_running_when_the_analysis_fails(big_trace: Path) -> None:
    class StopError(Exception):
        pass

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase == "replaying":
            raise StopError  # the caller gives up (Ctrl-C in the command line) while workers are busy

    with pytest.raises(StopError):
        analyze(big_trace, jobs=2, progress=progress)
    deadline = time.monotonic() + 10
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers() == []


def test_the_collector_is_left_as_it_was_found(tmp_path: Path, big_trace: Path) -> None:
    analyze(big_trace, jobs=2)
    assert gc.isenabled()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(big_trace.read_bytes()[:200_000].rsplit(b"\n", 1)[0] + b'\n{"request": \n')
    with pytest.raises(TraceFormatError):
        analyze(bad, jobs=2)
    assert gc.isenabled()
    gc.disable()
    try:
        analyze(bad, jobs=1, skip_invalid=True)
        assert not gc.isenabled()  # a caller that switched it off keeps it off
    finally:
        gc.enable()


def test_workers_replay_with_the_callers_simulator_options(tmp_path: Path) -> None:
    # The options travel to the workers as plain data: an OpenAI trace replayed with in-memory retention (five
    # minutes of idle life instead of 24 hours) and an engine with larger blocks comes back as one process has it.
    plain = tmp_path / "rag_docs.jsonl"
    with lzma.open(TRACES / "rag_docs.jsonl.xz") as handle:
        plain.write_bytes(handle.read())
    options = {"openai": OpenAIOptions(default_retention="in_memory", in_memory_idle=120.0)}
    serial = analyze(plain, jobs=1, **options)
    default = analyze(plain, jobs=1)
    assert [s.cache_read_tokens for s in serial.scenarios] != [s.cache_read_tokens for s in default.scenarios]
    _same(serial, analyze(plain, jobs=3, **options))
    engine = {"provider": "vllm", "engine": EngineOptions(block_size=64, capacity_blocks=4096)}
    _same(analyze(plain, jobs=1, **engine), analyze(plain, jobs=2, **engine))


def test_the_command_line_reports_a_killed_worker_as_an_error_not_a_traceback(big_trace: Path) -> None:
    command = [sys.executable, "-m", "cachepoint.core.cli", "analyze", "--jobs", "2", str(big_trace)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        killed = []
        deadline = time.monotonic() + 60
        while not killed and run.poll() is None and time.monotonic() < deadline:
            for child in _children(run.pid):
                if "spawn_main" in _cmdline(child) and _alive(child):
                    os.kill(child, signal.SIGKILL)
                    killed.append(child)
                    break
            time.sleep(0.02)
        _, err = run.communicate(timeout=120)
    assert killed, "the analysis finished before a worker could be killed"
    assert run.returncode == 2, (killed, err)
    assert "Traceback" not in err
    assert "error: a worker process died" in err
    assert "killed by SIGKILL" in err


def test_work_of_one_lane_runs_in_one_worker() -> None:
    # Each tenant's work lands in one worker (its memos stay warm there); the tenants spread over both workers,
    # and work without a lane still runs.
    with WorkerPool(2) as pool:
        jobs = [(lane, pool.submit(f"asking {lane}", os.getpid, lane=lane)) for _ in range(6) for lane in "abcd"]
        pids: dict[str, set[int]] = {}
        for lane, job in jobs:
            pids.setdefault(lane, set()).add(pool.result(job))
        free = {pool.result(pool.submit("asking", os.getpid)) for _ in range(4)}
    assert all(len(found) == 1 for found in pids.values()), pids
    workers = set().union(*pids.values())
    assert len(workers) == 2
    assert free <= workers
    assert os.getpid() not in workers


# A worker killed while it is sending a big result: the executor's reader has taken the first part of the message
# off the pipe and waits for the rest, which can never come. Run in a child interpreter, so a hang fails this
# test instead of hanging the test run (and its exit, which joins the executor's threads).
_KILLED_WHILE_SENDING = """
import os, signal, sys, time
from cachepoint.core.analyze.workers import WorkerError, WorkerPool

def read_bytes():
    with open("/proc/self/io") as handle:
        return int(next(line for line in handle if line.startswith("rchar")).split()[1])

size = 300_000_000
pool = WorkerPool(1)
worker = pool.result(pool.submit("asking", os.getpid))
before = read_bytes()
job = pool.submit("making a big result", bytes, size)
# Kill the worker once this process has read 20 MB of its answer (it is then half-way through sending it), or
# after 5 s if the answer does not come through a pipe.
deadline = time.monotonic() + 5
while read_bytes() < before + 20_000_000 and time.monotonic() < deadline:
    pass
os.kill(worker, signal.SIGKILL)
try:
    got = pool.result(job)
    print("result", len(got) == size and not any(got[::4096]))
except WorkerError as exc:
    print("error", exc.how)
pool.close()
"""


def test_a_worker_killed_while_sending_its_result_is_never_a_hang(tmp_path: Path) -> None:
    try:
        run = subprocess.run(
            [sys.executable, "-c", _KILLED_WHILE_SENDING],
            check=False,
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "TMPDIR": str(tmp_path)},
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the caller hung after its worker was killed: {exc.stdout!r} {exc.stderr!r}")
    assert run.returncode == 0, run.stderr
    # Either the worker had handed over its whole answer before it died, or its death is the caller's error.
    assert run.stdout.strip() in {"result True", "error killed by SIGKILL"}, run.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the temporary directory
