"""Every example in the usage package's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import cachepoint.core.usage as package
from cachepoint.core.providers import UnknownModelWarning

MODULES = ["cachepoint.core.usage"] + [
    info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.core.usage.")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    missing = []
    for name in package.__all__:
        obj = getattr(package, name)
        if callable(obj) and not (obj.__doc__ and ">>>" in obj.__doc__):
            missing.append(name)
    assert missing == []
