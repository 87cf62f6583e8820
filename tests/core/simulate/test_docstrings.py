"""Every example in the simulate package's docstrings runs, and every public name has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.core.simulate as package

MODULES = ["cachepoint.core.simulate"] + [
    info.name for info in pkgutil.walk_packages(package.__path__, "cachepoint.core.simulate.")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    missing = []
    for name in package.__all__:
        obj = getattr(package, name)
        is_alias = name in ("Mode", "PromptLike")  # type aliases: documented where they are defined
        if (isinstance(obj, type) or callable(obj)) and not is_alias and not (obj.__doc__ and ">>>" in obj.__doc__):
            missing.append(name)
    assert missing == []
