"""The examples in the docstrings of the prompt, tokens and providers modules run and say what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

import cachepoint.core.prompt

MODULES = sorted(
    ["cachepoint.core.tokens", "cachepoint.core.providers", "cachepoint.core.cli.lint"]
    + [m.name for m in pkgutil.walk_packages(cachepoint.core.prompt.__path__, "cachepoint.core.prompt.")]
    + ["cachepoint.core.prompt"]
)


@pytest.fixture
def provider_table_restored() -> Iterator[None]:
    """The providers module's examples teach the process-wide table a model (``register_model``); other tests
    (the trace reader's ``infer_provider``) expect it not to know that model, so the table is put back."""
    from cachepoint.core.providers import DEFAULT_TABLE

    saved = {provider: dict(models) for provider, models in DEFAULT_TABLE._entries.items()}
    yield
    DEFAULT_TABLE._entries = saved


@pytest.mark.usefixtures("provider_table_restored")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0


def test_the_custom_strategy_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    script = Path(__file__).parents[3] / "examples" / "custom_strategy.py"
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "chapter-4" in out
    assert "bedrock system: ['text', 'cachePoint']" in out
