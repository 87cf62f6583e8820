"""The Python examples of a package's docs, each run as written (shared by the adapters' ``test_guide.py``)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def package_docs(package: str) -> list[Path]:
    """The guide and the README (its PyPI page) of ``package``."""
    return [ROOT / "docs" / "guides" / f"{package}.md", ROOT / "packages" / package / "README.md"]


def examples(docs: list[Path]) -> list[tuple[str, str]]:
    """Every ```` ```python ```` block of ``docs``, named ``file[n]``."""
    found = []
    for doc in docs:
        for i, code in enumerate(BLOCK.findall(doc.read_text(encoding="utf-8"))):
            found.append((f"{doc.name}[{i}]", code))
    return found


def run_example(name: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one example as a reader would, with no real API key around, in a module of its own (LangGraph reads
    the annotations of the examples' TypedDicts and dataclasses through their module)."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    module = types.ModuleType("__guide__")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, name, "exec"), module.__dict__)  # the docs' own code
