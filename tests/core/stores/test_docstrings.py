"""Every example in the docstrings of the stores, the breaker and the bridge runs and shows what it says
(examples that need a Redis server are marked to be skipped; test_redis.py covers that behaviour)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.core.stores as package

MODULES = [
    "cachepoint.core.breaker",
    "cachepoint.core.bridge",
    "cachepoint.core.stores",
    *(info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.core.stores.")),
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
