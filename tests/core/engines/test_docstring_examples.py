"""Every public example in the engines docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "cachepoint.core.engines",
    "cachepoint.core.engines.errors",
    "cachepoint.core.engines.sizing",
    "cachepoint.core.engines.salt",
    "cachepoint.core.engines.vllm",
    "cachepoint.core.engines.sglang",
    "cachepoint.core.engines.lmcache",
    "cachepoint.core.engines.metrics",
    "cachepoint.core.engines._flags",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
