"""`cachepoint analyze` sharded by tenant, on local processes or a Dask cluster: the merged report is the
one-process report, byte for byte (JSON and HTML) but for the run's duration; tallies merge in any grouping and
order; an engine that cannot run says which option to fix."""

from __future__ import annotations

import heapq
import json
import lzma
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze import AnalysisReport, TraceOrderError, analyze
from cachepoint.core.analyze.engines import EngineError
from cachepoint.core.analyze.html import render_html
from cachepoint.core.analyze.merge import merge_tallies
from cachepoint.core.analyze.sharded import _payload, analyze_sharded, analyze_tenant, split_by_tenant
from cachepoint.core.analyze.tally import ReplayTally
from cachepoint.core.cli import main
from cachepoint.core.traces import TraceFormatError, parse_timestamp

ROOT = Path(__file__).parents[3]
TRACES = ROOT / "examples" / "traces"
SHIPPED = sorted(p.name.removesuffix(".jsonl.xz") for p in TRACES.glob("*.jsonl.xz"))
OPTIONS: dict[str, Any] = {"strategies": ["auto", "rolling(4)"]}

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_analyze import iter_trace  # noqa: E402 - the benchmark's generator, on the path just above


def _same(one: AnalysisReport, sharded: AnalysisReport) -> None:
    """Equal JSON and HTML reports, but for how long each run took."""
    assert sharded.elapsed_s is not None
    one, sharded = replace(one, elapsed_s=None), replace(sharded, elapsed_s=None)
    assert sharded.to_json() == one.to_json()
    assert render_html(sharded) == render_html(one)


def _start(line: bytes) -> float:
    return parse_timestamp(json.loads(line)["timestamp"])


@pytest.fixture(scope="module")
def shipped_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six shipped traces (six tenants, three providers) interleaved in start order, as one day's log."""
    parts = [lzma.decompress((TRACES / f"{name}.jsonl.xz").read_bytes()).splitlines(keepends=True) for name in SHIPPED]
    path = tmp_path_factory.mktemp("shipped") / "day.jsonl"
    path.write_bytes(b"".join(heapq.merge(*parts, key=_start)))
    return path


def generated_day(requests: int, tenants: int) -> list[bytes]:
    """The benchmark's support-agent traffic (sessions interleaved in time), each session given to one of
    ``tenants`` tenants."""
    lines = []
    for raw in iter_trace(requests):
        record = orjson.loads(raw)
        record["tenant"] = f"tenant-{int(record['session'][1:]) % tenants}"
        lines.append(orjson.dumps(record))
    return lines


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "day.jsonl"
    path.write_bytes(b"\n".join(generated_day(1500, 5)) + b"\n")
    return path


def test_shipped_traces_sharded_on_local_processes_give_the_one_process_report(shipped_day: Path) -> None:
    one = analyze(str(shipped_day), **OPTIONS)
    assert one.tenants == 6
    assert one.misses is not None
    assert one.misses.causes
    _same(one, analyze_sharded(str(shipped_day), workers=2, **OPTIONS))


def test_one_shipped_trace_is_one_shard(tmp_path: Path) -> None:
    source = str(TRACES / "support_agent.jsonl.xz")  # read back by offset from the compressed file
    _same(analyze(source), analyze_sharded(source, workers=1))


def test_observed_usage_of_two_tenants_merges_as_in_one_process() -> None:
    source = str(TRACES / "hand_counted.jsonl")  # provider-reported usage, two tenants
    one = analyze(source)
    assert one.observed is not None
    assert one.tenants == 2
    _same(one, analyze_sharded(source, workers=2))


def test_a_generated_multi_tenant_day_on_dask_gives_the_one_process_report(day: Path) -> None:
    pytest.importorskip("distributed", reason="the dask engine is the cachepoint-core[distributed] extra")
    one = analyze(str(day), **OPTIONS)
    assert one.requests == 1500
    assert one.tenants == 5
    _same(one, analyze_sharded(str(day), engine="dask", workers=2, **OPTIONS))
    _same(one, analyze_sharded(str(day), engine="local", workers=2, **OPTIONS))


def test_a_dask_cluster_at_an_address_gets_the_lines_in_the_shards(day: Path) -> None:
    # A cluster named by its address may run elsewhere: its workers cannot read this machine's spill file, so the
    # shards carry their lines (a local cluster, reached as a remote one would be).
    distributed = pytest.importorskip("distributed")
    one = analyze(str(day), **OPTIONS)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        _same(one, analyze_sharded(str(day), engine="dask", address=cluster.scheduler_address, **OPTIONS))


def test_focus_settled_in_one_shard_only_is_the_whole_traces(day: Path) -> None:
    # Five tenants without cache markers and one with: the trace caches, so the report explains `recorded` --
    # though four of the five shards alone would have explained `auto`.
    lines = [orjson.loads(raw) for raw in day.read_bytes().splitlines()]
    for record in lines:
        if record["tenant"] != "tenant-0":
            del record["request"]["system"][0]["cache_control"]
    records = [orjson.dumps(r) for r in lines]
    one = analyze(records, **OPTIONS)
    assert one.focus == "recorded"
    _same(one, analyze_sharded(records, workers=2, **OPTIONS))
    for record in lines:
        record["request"]["system"][0].pop("cache_control", None)
        record.pop("timestamp")  # and no timestamps at all: the split gives every line its start
    records = [orjson.dumps(r) for r in lines]
    one = analyze(records, interval=2.0, **OPTIONS)
    assert one.focus == "auto"
    assert one.timestamps == "synthetic"
    _same(one, analyze_sharded(records, interval=2.0, workers=2, **OPTIONS))


def test_bad_lines_are_skipped_and_counted_as_in_one_process(day: Path) -> None:
    lines = day.read_bytes().splitlines()
    lines[10] = b"not json"
    lines[500] = b'{"request": {"messages": "no list"}, "tenant": "tenant-3"}'
    _same(analyze(lines, skip_invalid=True), analyze_sharded(lines, skip_invalid=True, workers=2))
    with pytest.raises(TraceFormatError, match=r"^line 11: invalid JSON"):
        analyze_sharded(lines, workers=2)


def test_by_tenant_with_a_short_keep_frees_requests_as_one_process_does(day: Path) -> None:
    # One process frees a request once it is both out of the window and out of the last ``keep`` requests of
    # the whole trace; a tenant's replay sees only its own requests, so it must be told the trace's count.
    options = {**OPTIONS, "keep": 50, "window": 60.0}
    one = analyze(str(day), **options)
    assert "older requests were no longer compared with" in one.to_json()  # a short keep frees requests
    _same(one, analyze_sharded(str(day), workers=2, **options))


def test_an_openai_24h_retention_in_one_tenant_widens_every_tenants_window_as_in_one_process(day: Path) -> None:
    # The window grows to the longest retention a request of the trace asks for, from that request on -- for
    # the whole trace in one process, so for every shard. The day stretched to about two hours, so the default
    # window of an hour frees requests before the OpenAI request comes, 90 minutes in.
    records = [orjson.loads(raw) for raw in day.read_bytes().splitlines()]
    first = records[0]["timestamp"]
    for record in records:
        record["timestamp"] = first + 5 * (record["timestamp"] - first)
    at = next(n for n, r in enumerate(records) if r["timestamp"] - first > 5400)
    records.insert(
        at,
        {
            "timestamp": records[at]["timestamp"],
            "tenant": "tenant-openai",
            "request": {
                "model": "gpt-4.1",
                "prompt_cache_retention": "24h",
                "messages": [{"role": "system", "content": "Policy. " * 400}, {"role": "user", "content": "Hi"}],
            },
        },
    )
    lines = [orjson.dumps(r) for r in records]
    options = {**OPTIONS, "keep": 50}
    one = analyze(lines, **options)
    assert "older requests were no longer compared with" in one.to_json()
    _same(one, analyze_sharded(lines, workers=2, **options))


def test_a_line_only_preparation_rejects_starts_no_request_in_either_mode() -> None:
    # Without timestamps a request starts ``interval`` after the previous request; a line the trace format
    # accepts but preparation rejects (nothing to cache) is no request, so it moves no start -- in the split too.
    line = (
        '{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
        '"messages": [{"role": "user", "content": "Q%d"}]}, "session": "s%d", "tenant": "t%d"}'
    )
    lines = [line % ("Manual. " * 900, n, n % 3, n % 2) for n in range(40)]
    lines[5] = '{"request": {"model": "claude-sonnet-4-5", "messages": []}, "tenant": "t1"}'
    options: dict[str, Any] = {"skip_invalid": True, "interval": 120.0, "keep": 3, "window": 300.0}
    one = analyze(lines, **options)
    assert one.invalid_lines == 1
    _same(one, analyze_sharded(lines, workers=2, **options))


def test_a_trace_out_of_order_is_refused_before_any_worker_starts(day: Path) -> None:
    lines = day.read_bytes().splitlines()
    lines[0], lines[-1] = lines[-1], lines[0]
    with pytest.raises(TraceOrderError, match=r"^line 2 starts"):
        analyze_sharded(lines, engine="dask", address="tcp://127.0.0.1:1")  # the split fails first


def test_an_unreachable_dask_scheduler_is_named_within_seconds(day: Path) -> None:
    pytest.importorskip("distributed")
    began = time.monotonic()
    with pytest.raises(EngineError, match=r"^--dask-scheduler 'tcp://127\.0\.0\.1:9': no Dask scheduler answered"):
        analyze_sharded(str(day), engine="dask", address="tcp://127.0.0.1:9")
    assert time.monotonic() - began < 20


def test_auto_adaptive_is_refused_it_learns_across_tenants(day: Path) -> None:
    # Its prior is the share of long gaps over every session of the trace, all tenants together.
    with pytest.raises(ValueError, match=r"^strategies: auto_adaptive learn from every tenant's sessions"):
        analyze_sharded(str(day), strategies=["auto", "auto_adaptive"])


def test_an_unknown_engine_is_named(day: Path) -> None:
    with pytest.raises(EngineError, match="spark: expected one of local, dask"):
        analyze_sharded(str(day), engine="spark")


def test_cli_engine_options(day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_one, html_sharded = tmp_path / "one.html", tmp_path / "sharded.html"
    assert main(["analyze", str(day), "--json", "--no-progress", "--jobs", "1", "--html", str(html_one)]) == 0
    one = json.loads(capsys.readouterr().out)
    args = ["analyze", str(day), "--json", "--no-progress", "--engine", "local", "--jobs", "2"]
    assert main([*args, "--html", str(html_sharded)]) == 0
    sharded = json.loads(capsys.readouterr().out)
    one["elapsed_s"] = sharded["elapsed_s"] = None
    assert sharded == one
    assert html_sharded.read_text() == html_one.read_text()
    assert main(["analyze", str(day), "--engine", "local", "--dask-scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--dask-scheduler needs --engine dask" in capsys.readouterr().err
    assert main(["analyze", str(day), "--engine", "dask", "--dask-scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--dask-scheduler 'tcp://127.0.0.1:9': no Dask scheduler answered" in capsys.readouterr().err


# --- merging tallies ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tallies(shipped_day: Path) -> list[bytes]:
    """Tallies of the shipped day's six tenants, as JSON."""
    split = split_by_tenant(str(shipped_day))
    options = {"strategies": ["auto"], "examples": 2, "freeing": [split.freed, split.window]}
    return [analyze_tenant(_payload(lines, options)) for lines in split.tenants.values()]


def _tree(draw: st.DrawFn, items: list[ReplayTally]) -> ReplayTally:
    """Merge ``items`` in a random grouping."""
    while len(items) > 1:
        at = draw(st.integers(0, len(items) - 2))
        items[at : at + 2] = [merge_tallies(items[at : at + 2])]
    return items[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tallies_merge_the_same_in_any_grouping_and_order(tallies: list[bytes], data: st.DataObject) -> None:
    baseline = merge_tallies(ReplayTally.from_json(t) for t in tallies)
    order = data.draw(st.permutations(range(len(tallies))))
    merged = _tree(data.draw, [ReplayTally.from_json(tallies[k]) for k in order])
    try:
        assert merged.to_json() == baseline.to_json()
    finally:
        merged.close()
        baseline.close()


def test_a_tally_round_trips_through_json(tallies: list[bytes]) -> None:
    for raw in tallies:
        tally = ReplayTally.from_json(raw)
        assert tally.to_json() == raw
        tally.close()
    with pytest.raises(ValueError, match="tally: expected a JSON object with cachepoint_tally: 1"):
        ReplayTally.from_json(b"[]")


def test_tallies_of_other_scenarios_do_not_merge(shipped_day: Path) -> None:
    split = split_by_tenant(str(shipped_day))
    lines = next(iter(split.tenants.values()))[:5]
    freeing = [split.freed, split.window]
    a = ReplayTally.from_json(analyze_tenant(_payload(lines, {"strategies": ["auto"], "freeing": freeing})))
    b = ReplayTally.from_json(analyze_tenant(_payload(lines, {"strategies": ["rolling(4)"], "freeing": freeing})))
    with pytest.raises(ValueError, match=r"^tally scenarios: "):
        a.merge(b)
    a.close()
    b.close()


def test_a_session_back_from_disk_keeps_its_first_start() -> None:
    # What the merge ranks equal sessions of different tenants by: the session's first request, even when its
    # totals went to disk in between (bounded memory) and came back.
    from cachepoint.core.analyze.spill import SessionTotals

    totals = SessionTotals(limit=1)
    a, b = ("anthropic", "t1", "m", "s"), ("anthropic", "t2", "m", "s")
    totals.add(a, 100, 0, started=(10.0, 1))
    totals.add(b, 300, 0, started=(20.0, 2))  # a goes to disk
    totals.add(a, 200, 50, started=(30.0, 3))
    try:
        assert totals.ranked(2) == [(a, (2, 300, 50), (10.0, 1)), (b, (1, 300, 0), (20.0, 2))]
    finally:
        totals.close()
