"""The shipped sample traces: their scripts reproduce them byte for byte, and each shows what it was made for.

The six generated traces carry no usage (no provider answered them). ``hand_counted.jsonl`` carries usage worked
out by hand from Anthropic's documented rules (``hand_counted.md``): the simulator is checked against it request
by request, and the report's "reported vs predicted" compares the two."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze import AnalysisReport, analyze
from cachepoint.core.simulate import Simulator

from .conftest import WordCounter

TRACES = Path(__file__).parents[3] / "examples" / "traces"
NAMES = ("support_agent", "rag_docs", "coding_agent", "timestamp_prompt", "rag_sessions", "coding_session")


@pytest.fixture(scope="module")
def reports() -> dict[str, AnalysisReport]:
    return {name: analyze(TRACES / f"{name}.jsonl.xz") for name in NAMES}


def _causes(report: AnalysisReport) -> dict[str, int]:
    assert report.misses is not None
    return {c.cause: c.requests for c in report.misses.causes}


def test_generator_reproduces_the_shipped_traces(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(TRACES / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    for name in NAMES:
        shipped = (TRACES / f"{name}.jsonl.xz").read_bytes()
        assert (tmp_path / f"{name}.jsonl.xz").read_bytes() == shipped, name
        assert len(shipped) < 400 * 1024  # small enough to commit


def test_support_agent(reports: dict[str, AnalysisReport]) -> None:
    report = reports["support_agent"]
    assert report.focus == "recorded"  # the team's own cache_control is what gets explained
    assert report.best == "auto"
    auto, today = report.scenario("auto"), report.scenario("recorded")
    assert auto is not None
    assert today is not None
    assert (auto.cost_usd or 0.0) < (today.cost_usd or 0.0)
    assert {"no_breakpoint", "ttl_expired", "tool_order"} <= set(_causes(report))
    assert report.observed is None  # made up: no provider answered it, so it reports no usage


def test_hand_counted_trace_is_reproduced(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(TRACES / "hand_counted.py"), "--out", str(tmp_path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "hand_counted.jsonl").read_bytes() == (TRACES / "hand_counted.jsonl").read_bytes()


def _hand_counted() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (TRACES / "hand_counted.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_simulator_agrees_with_the_hand_worked_usage_request_by_request() -> None:
    # Counted the way the hand working counts (words, plus 3 tokens per message), the simulator must reach the
    # usage worked out by hand from the documented rules, for every request: the 1h system entry refreshed on
    # each read (requests 6 and 11 read what would otherwise have expired), the 5m entries expiring (3, 12), the
    # 20-block lookback (10 reads only the system prompt), the 1,024-token minimum (7, 8 cache nothing).
    sim = Simulator("anthropic", counter=WordCounter())
    for n, line in enumerate(_hand_counted(), start=1):
        at = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
        got = sim.request(line["request"], at=at, tenant=line["tenant"]).native()
        want = line["usage"]
        for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation"):
            assert got[key] == want[key], (n, key, got[key], want[key])


def test_reported_vs_predicted_compares_two_independent_counts() -> None:
    # With the analyzer's own offline token estimate (what `cachepoint analyze` uses), token totals differ from
    # the hand counts, but every request reads (or not) and writes (or not) as worked out by hand.
    report = analyze(TRACES / "hand_counted.jsonl")
    o = report.observed
    assert o is not None
    assert o.requests == report.requests == 12
    assert (o.observed.hit_requests, o.predicted.hit_requests) == (8, 8)  # all but 1, 7, 8 and 12
    assert (o.observed.write_requests, o.predicted.write_requests) == (10, 10)  # all but the triage bot
    assert o.agreement == 1.0
    assert o.observed.input_tokens == sum(
        sum(line["usage"][k] for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
        for line in _hand_counted()
    )
    assert o.predicted.input_tokens != o.observed.input_tokens  # two counts, not one copied
    # Counted as the hand working counts, the totals are the same, to the token and to the cent.
    same = analyze(TRACES / "hand_counted.jsonl", counter=WordCounter()).observed
    assert same is not None
    for field in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_by_ttl", "output_tokens"):
        assert getattr(same.predicted, field) == getattr(same.observed, field), field
    assert same.predicted.cost_usd == pytest.approx(same.observed.cost_usd)
    assert same.input_token_ratio == 1.0


def test_rag_docs(reports: dict[str, AnalysisReport]) -> None:
    report = reports["rag_docs"]
    assert report.models == {"gpt-4.1": 420}
    assert "block_order" in _causes(report)  # same documents, another retrieval order


def test_coding_agent(reports: dict[str, AnalysisReport]) -> None:
    report = reports["coding_agent"]
    assert report.providers == {"bedrock": report.requests}
    assert "lookback_exceeded" in _causes(report)
    auto = report.scenario("auto")
    assert auto is not None
    assert (auto.cached_token_ratio or 0.0) > 0.9  # anchors + tail


def test_timestamp_prompt(reports: dict[str, AnalysisReport]) -> None:
    report = reports["timestamp_prompt"]
    today = report.scenario("recorded")
    assert today is not None
    assert today.hit_requests == 0
    assert today.write_requests == today.requests
    # auto sees the timestamp to the second and places nothing: no caching is the cheapest there is.
    costs = {s.name: s.cost_usd for s in report.scenarios}
    assert costs["auto"] == costs["none"] == min(c for c in costs.values() if c is not None)
    assert list(_causes(report)) == ["timestamp"]


def test_rag_sessions(reports: dict[str, AnalysisReport]) -> None:
    report = reports["rag_sessions"]
    assert report.providers == {"anthropic": report.requests}
    # Each question brings new documents: what a later turn shares is the history, never the new documents.
    assert report.sharing.shared_tokens < 0.75 * report.sharing.input_tokens
    auto, today = report.scenario("auto"), report.scenario("recorded")
    assert auto is not None
    assert today is not None
    assert (auto.cached_token_ratio or 0.0) > 2 * (today.cached_token_ratio or 0.0)  # the history, not just system


def test_coding_session(reports: dict[str, AnalysisReport]) -> None:
    report = reports["coding_session"]
    assert report.requests == 220
    assert report.sharing.sessions == 1
    assert report.sharing.input_tokens / report.requests > 40_000  # tool results of 5k-20k tokens pile up
    today = report.scenario("recorded")  # top-level cache_control: automatic caching
    assert today is not None
    assert today.hit_requests > 0.7 * today.requests


@pytest.mark.parametrize("form", ["plain", "xz"])
def test_parallel_preparation_gives_the_same_report(form: str, tmp_path: Path) -> None:
    # A plain file is split in byte ranges that workers read themselves; a compressed one is streamed to them.
    path = TRACES / "support_agent.jsonl.xz"
    if form == "plain":
        plain = tmp_path / "support_agent.jsonl"
        with lzma.open(path) as handle:
            plain.write_bytes(handle.read())
        path = plain
    serial = analyze(path, jobs=1).to_dict()
    parallel = analyze(path, jobs=2).to_dict()
    serial.pop("elapsed_s")
    parallel.pop("elapsed_s")
    assert parallel == serial
