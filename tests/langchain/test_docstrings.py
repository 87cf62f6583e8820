"""Every example in cachepoint.langchain's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.langchain as package

MODULES = ["cachepoint.langchain"] + [
    info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.langchain.")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_name_has_a_docstring() -> None:
    from cachepoint.langchain import CachepointMiddleware

    names = [getattr(package, name) for name in package.__all__ if name != "__version__"]
    assert CachepointMiddleware in names
    assert all(obj.__doc__ for obj in names)
