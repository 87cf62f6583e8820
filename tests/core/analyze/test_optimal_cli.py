"""``cachepoint analyze --optimum`` run as a user runs it (a separate process) on the shipped traces: the optimum
bracketed (lower bound <= best real placement found <= auto) and every ratio consistent with the printed costs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze.incumbents import INCUMBENTS_FOR

from .test_cli_input import cli as analyze_cli

TRACES = Path(__file__).parents[3] / "examples" / "traces"
SHIPPED = sorted(p.name.removesuffix(".jsonl.xz") for p in TRACES.glob("*.jsonl.xz"))
SLACK = 1e-9  # the bound and the replays sum the same prices in different orders


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return analyze_cli(*args, timeout=300)  # --optimum reads the trace twice and replays it more times


def test_every_shipped_trace_is_tested() -> None:
    assert len(SHIPPED) >= 6, SHIPPED


@pytest.mark.parametrize("trace", SHIPPED)
def test_the_json_report_brackets_the_optimum_below_auto_and_every_incumbent(trace: str) -> None:
    done = cli(str(TRACES / f"{trace}.jsonl.xz"), "--optimum", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    optimum = report["optimum"]
    low, best = optimum["lower_bound_usd"], optimum["best_found_usd"]
    costs = {s["name"]: s["cost_usd"] for s in report["scenarios"]}
    assert 0 < low <= best * (1 + SLACK)
    assert best <= costs["auto"] * (1 + SLACK)
    assert best <= min(costs.values()) * (1 + SLACK)  # the best found is never worse than a scenario replayed
    assert optimum["requests"] == report["trace"]["requests"]
    rows = {r["name"]: r for r in optimum["rows"]}
    assert set(rows) == set(costs)
    for name, row in rows.items():
        assert row["cost_usd"] == costs[name]
        assert row["to_lower_bound"] == pytest.approx(costs[name] / low)
        assert row["to_best_found"] == pytest.approx(costs[name] / best)
        assert row["to_lower_bound"] >= 1 - SLACK
    # What every framework places today for the trace's provider is replayed and marked as such.
    (provider,) = report["trace"]["providers"]
    incumbents = {name for name, row in rows.items() if row["incumbent"]}
    assert len(incumbents) == len(INCUMBENTS_FOR[provider])
    assert not rows["auto"]["incumbent"]


def test_the_terminal_and_html_reports_print_the_bracket_and_ratios_of_their_costs(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = cli(str(TRACES / "support_agent.jsonl.xz"), "--optimum", "--html", str(page), "--no-progress")
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("Against the optimum (--optimum)", 1)[1]
    row = re.compile(r"^ (\S.*?)\s+\$([\d,]+\.\d{4})\s+(\d+\.\d{3})\s+(\d+\.\d{3})$", re.MULTILINE)
    printed = {m[1]: (float(m[2].replace(",", "")), float(m[3]), float(m[4])) for m in row.finditer(section)}
    low = printed.pop("optimum >= (lower bound)")[0]
    best = printed.pop("optimum <= (best found)")[0]
    assert low <= best <= printed["auto"][0]
    assert "langchain_anthropic_middleware (today)" in printed
    for name, (cost, to_low, to_best) in printed.items():
        # Ratios from the printed costs (4 decimals) agree with the printed ratios (3 decimals).
        assert abs(cost / low - to_low) < 0.0015, name
        assert abs(cost / best - to_best) < 0.0015, name
    html = page.read_text(encoding="utf-8")
    assert "<h2>Against the optimum</h2>" in html
    assert f"${printed['auto'][0]:,.4f}" in html


def test_the_optimum_needs_a_file_it_can_read_twice() -> None:
    done = cli("-", "--optimum")
    assert done.returncode == 2
    assert "--optimum reads the trace twice" in done.stderr


def test_a_trace_without_prices_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    trace = tmp_path / "vllm.jsonl"
    body = {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": [{"role": "system", "content": "Manual. " * 900}, {"role": "user", "content": "Hi"}],
    }
    trace.write_text("".join(json.dumps({"provider": "vllm", "request": body}) + "\n" for _ in range(3)))
    done = cli(str(trace), "--optimum", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "Against the optimum (--optimum): nothing to compare, no scenario has a cost" in done.stdout
    optimum = json.loads(cli(str(trace), "--optimum", "--json").stdout)["optimum"]
    assert (optimum["rows"], optimum["unpriced_requests"]) == ([], 3)


def test_the_optimum_of_a_folder_is_the_optimum_of_its_files_read_as_one(tmp_path: Path) -> None:
    # The folder holds the two halves of one shipped trace (by whole lines); --optimum reads the trace a second
    # time, so it must read the folder the way the analysis does, not its display name.
    import lzma

    lines = lzma.decompress((TRACES / "support_agent.jsonl.xz").read_bytes()).splitlines(keepends=True)
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(lines))
    folder = tmp_path / "parts"
    folder.mkdir()
    half = len(lines) // 2
    (folder / "a.jsonl").write_bytes(b"".join(lines[:half]))
    (folder / "b.jsonl").write_bytes(b"".join(lines[half:]))
    one, parts = (cli(str(p), "--optimum", "--json", "--no-progress") for p in (whole, folder))
    assert one.returncode == 0, one.stderr
    assert parts.returncode == 0, parts.stderr
    assert json.loads(parts.stdout)["optimum"] == json.loads(one.stdout)["optimum"]
