"""`packages/core/README.md` is cachepoint-core's page on PyPI: its example runs and prints what the page says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "packages" / "core" / "README.md"


def test_the_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    shown = re.findall(r"```console\n(.*?)```", text, re.DOTALL)
    assert len(code) == 1
    assert len(code[0].strip().splitlines()) <= 12  # a short example
    script = tmp_path / "example.py"
    script.write_text(code[0], encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == shown[0]


def test_it_says_what_the_package_does_and_how_to_install_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install cachepoint-core" in text
    for name in ("apply_cache_points", "ResponseCache", "normalize_usage", "cachepoint analyze"):
        assert name in text, name
    assert "docs/guides/" in text
