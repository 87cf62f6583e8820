"""The custom-strategy example script runs and places what it says."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest


def test_the_custom_strategy_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    script = Path(__file__).parents[3] / "examples" / "custom_strategy.py"
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "chapter-4" in out
    assert "bedrock system: ['text', 'cachePoint']" in out
