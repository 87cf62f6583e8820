"""Every Python example in docs/guides/langchain.md and packages/langchain/README.md runs as written."""

from __future__ import annotations

import pytest

from doc_examples import examples, package_docs, run_example

EXAMPLES = examples(package_docs("langchain"))


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs(name: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_example(name, code, monkeypatch)
