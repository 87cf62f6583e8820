"""Every example in cachepoint.langgraph's docstrings runs and prints what it says; every public name has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.langgraph as package

MODULES = ["cachepoint.langgraph"] + [
    info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.langgraph.")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


@pytest.mark.parametrize("name", [name for name in package.__all__ if name != "__version__"])
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    assert ">>>" in (getattr(package, name).__doc__ or "")
