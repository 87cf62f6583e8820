"""`cachepoint lint` over files: output, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.cli import main

CLEAN = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 5,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "Hi"}],
}


def _write(tmp_path: Path, name: str, lines: list[Any]) -> str:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return str(path)


def test_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "clean.jsonl", [CLEAN, CLEAN])
    assert main(["lint", path]) == 0
    assert "info below_minimum" in capsys.readouterr().out  # below warning: printed, not failing


def test_findings_exit_1_and_name_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second = {**CLEAN, "system": "Be brief. Request id: req_9f8e7d6c5b4a"}
    path = _write(tmp_path, "trace.jsonl", [CLEAN, {"request": second, "latency_ms": 800}])
    assert main(["lint", path]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2: warning request_id system" in out
    assert f"{path}:2: info prefix_divergence system" in out or f"{path}:2: warning prefix_divergence system" in out


def test_fail_on_error_ignores_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, "one.json", [{**CLEAN, "system": "Now 2026-11-23T10:15:00Z"}])
    assert main(["lint", "--fail-on", "error", path]) == 0
    assert main(["lint", "--fail-on", "warning", path]) == 1


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{**CLEAN, "system": "Now 2026-11-23T10:15:00Z"}]), encoding="utf-8")
    main(["lint", "--json", str(path)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"file", "line", "code", "severity", "message", "fix"} <= set(rows[0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Expecting property name"),
        (
            json.dumps({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0]: role must be one of",
        ),
        (json.dumps([1, 2]), "expected a request body object"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert main(["lint", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["lint", str(tmp_path / "nope.jsonl")]) == 2


def test_console_script_and_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "lint", "-"],
        input=json.dumps(CLEAN),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
