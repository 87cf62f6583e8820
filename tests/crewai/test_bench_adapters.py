"""``benchmarks/bench_adapters_crewai.py`` runs at its smallest size (it checks, before timing, that cachepoint
placed markers on every call); nothing is asserted about speed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_adapters_crewai.py"


def test_the_adapter_overhead_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1"], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "added by cachepoint" in done.stdout
