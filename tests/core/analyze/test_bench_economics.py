"""``benchmarks/bench_economics.py --quick`` runs and prints its tables (CI keeps the benchmark working; it
asserts nothing about speed, and the numbers it prints are checked by the analyzer's own tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "bench_economics.py"


def test_the_economics_benchmark_runs_at_its_smallest_size() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for trace in ("support_agent", "rag_docs", "coding_agent", "timestamp_prompt", "rag_sessions", "coding_session"):
        assert f"### `{trace}`" in out
        assert f"| {trace} | " in out  # a row of the goals table
    assert "| **auto** |" in out
    assert "| **auto_adaptive** |" in out  # analyzer only, next to auto
    assert "| **auto(history=GapHistory())**, live |" in out  # the same rule, placed the way an adapter does
    assert "| optimum >= (lower bound) |" in out
