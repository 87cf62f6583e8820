"""Every example in the docstrings of codec, keys and the response cache runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.core.response_cache as package

MODULES = [
    "cachepoint.core.codec",
    "cachepoint.core.keys",
    "cachepoint.core.response_cache",
    *(info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.core.response_cache.")),
]


# Modules whose examples talk to the Redis at 127.0.0.1:6379 (skipped without one, a failure under CI=true).
NEEDS_REDIS = {"cachepoint.core.response_cache.lock"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, request: pytest.FixtureRequest) -> None:
    if name in NEEDS_REDIS:
        request.getfixturevalue("redis_url")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


@pytest.mark.parametrize("name", ["cachepoint.core.codec", "cachepoint.core.keys", "cachepoint.core.response_cache"])
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    module = importlib.import_module(name)
    missing = [
        attr
        for attr in module.__all__
        if callable(getattr(module, attr)) and ">>>" not in (getattr(module, attr).__doc__ or "")
    ]
    assert missing == []
