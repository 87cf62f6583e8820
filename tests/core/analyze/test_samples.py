"""The shipped sample traces: the generator reproduces them byte for byte, and each shows what it was made for."""

from __future__ import annotations

import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from cachepoint.core.analyze import AnalysisReport, analyze

TRACES = Path(__file__).parents[3] / "examples" / "traces"
NAMES = ("support_agent", "rag_docs", "coding_agent", "timestamp_prompt")


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
    assert report.observed is not None
    assert report.observed.requests == report.requests
    assert report.observed.input_token_ratio == pytest.approx(1.07, abs=0.01)  # the generator's tokenizer factor


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
    assert report.best == "none"
    assert list(_causes(report)) == ["timestamp"]


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
