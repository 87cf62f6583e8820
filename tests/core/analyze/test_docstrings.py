"""Every example in the docstrings of analyze, prefix and traces runs, and every public name has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cachepoint.core.analyze
import cachepoint.core.prefix
import cachepoint.core.traces

PACKAGES = [cachepoint.core.analyze, cachepoint.core.prefix, cachepoint.core.traces]
MODULES = ["cachepoint.core.cli.analyze"] + [
    name
    for package in PACKAGES
    for name in [package.__name__] + [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_public_name_has_a_docstring_with_an_example(package: object) -> None:
    aliases = {"Policy", "TraceSource", "Progress"}  # type aliases: documented where they are defined
    missing = []
    for name in package.__all__:  # type: ignore[attr-defined]
        obj = getattr(package, name)
        if name in aliases or not (isinstance(obj, type) or callable(obj)):
            continue
        if not (obj.__doc__ and ">>>" in obj.__doc__):
            missing.append(name)
    assert missing == []
