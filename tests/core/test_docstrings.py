"""Every example in every docstring of cachepoint.core runs and shows what it says; every public name of its
public modules has one.

One mechanism for the whole package, found by walking the *installed* package (nox installs the wheel, so these
are the docstrings users get), one test per module. Examples that talk to Redis name ``redis_url`` and
``redis_prefix``: they get the test server and a key prefix of their own (keys removed afterwards), and like
every Redis test they fail when ``CI=true`` and no server answers.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings
from types import ModuleType

import pytest

import cachepoint.core
from cachepoint.core.providers import DEFAULT_TABLE, UnknownModelWarning

MODULES = sorted(
    {"cachepoint.core"}
    | {
        info.name
        for info in pkgutil.walk_packages(cachepoint.core.__path__, "cachepoint.core.")
        if not info.name.endswith(".__main__")  # importing it runs the command line
    }
)
SKIP = doctest.SKIP
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
REDIS_NAMES = ("redis_url", "redis_prefix")
# Modules whose examples may say `# doctest: +SKIP`, and why they cannot run here. Any other skipped example is a
# failure: an example that can run (Redis is there) must.
MAY_SKIP = {
    "cachepoint.core.tokens": "needs a tiktoken vocabulary file and the Anthropic API",
    "cachepoint.core.engines.lmcache": "needs an LMCache controller",
    "cachepoint.core.engines.metrics": "needs a running vLLM / SGLang server",
    "cachepoint.core.usage.ledger": "prints a 200-column rich table",
}


def test_the_walk_finds_the_whole_package() -> None:
    # A walk that silently found nothing would make every test below vacuous.
    assert {"cachepoint.core.keys", "cachepoint.core.codec", "cachepoint.core.stores.redis"} <= set(MODULES)
    assert len(MODULES) > 100


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, request: pytest.FixtureRequest) -> None:
    module = importlib.import_module(name)
    tests = [test for test in doctest.DocTestFinder().find(module, name) if test.examples]
    skipped = [f"{test.name}: {ex.source.strip()}" for test in tests for ex in test.examples if ex.options.get(SKIP)]
    assert name in MAY_SKIP or not skipped, f"examples skipped without a reason in MAY_SKIP: {skipped}"
    if any(n in example.source for test in tests for example in test.examples for n in REDIS_NAMES):
        given = {n: request.getfixturevalue(n) for n in REDIS_NAMES}
        for test in tests:
            test.globs.update(given)
    models_before = DEFAULT_TABLE.entries()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)  # examples with made-up models
        failed = sum(runner.run(test, out=report.append).failed for test in tests)
    assert failed == 0, "".join(report)
    # The provider table is process-wide: an example that teaches it a model must use a copy.
    assert DEFAULT_TABLE.entries() == models_before


# Public modules whose public names do not all have examples yet.
WITHOUT_EXAMPLES = {"cachepoint.core.cli", "cachepoint.core.prompt", "cachepoint.core.providers"}
PUBLIC = [
    name
    for name in MODULES
    if name.count(".") == 2 and not name.rsplit(".", 1)[1].startswith("_") and name not in WITHOUT_EXAMPLES
]


def public_names_without_examples(module: ModuleType) -> list[str]:
    missing = []
    for attr in module.__all__:
        obj = getattr(module, attr)
        # Classes and functions exported under their own name; type aliases (Mode = Literal[...]) are documented
        # where they are defined.
        if getattr(obj, "__name__", None) == attr and ">>>" not in (obj.__doc__ or ""):
            missing.append(attr)
    return missing


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    assert public_names_without_examples(importlib.import_module(name)) == []
