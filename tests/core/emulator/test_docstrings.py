"""Every example in the emulator package's docstrings runs, and every public name has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.core.emulator as package

MODULES = ["cachepoint.core.emulator"] + [
    info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.core.emulator.")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    missing = [
        name
        for name in package.__all__
        if name != "ReplySource"  # a type alias, documented in cachepoint.core.emulator.replies
        and (isinstance(getattr(package, name), type) or callable(getattr(package, name)))
        and ">>>" not in (getattr(package, name).__doc__ or "")
    ]
    assert missing == []
