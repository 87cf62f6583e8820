"""The terminal report as a user sees it: in a real pseudo-terminal of 80 and 160 columns (wrapped to the width,
wrapped lines keeping their indent), and through a pipe (every line whole, no padding, no colors); `--help`
wrapped to the terminal without reStructuredText markup; the wording of the report's numbers."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

TRACE = Path(__file__).parents[3] / "examples" / "traces" / "support_agent.jsonl.xz"
HAND = Path(__file__).parents[3] / "examples" / "traces" / "hand_counted.jsonl"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(extra)
    return env


def in_terminal(args: list[str], columns: int) -> str:
    """Run ``cachepoint ARGS`` with stdout on a pseudo-terminal ``columns`` wide; its screen text, colors removed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "cachepoint.core.cli", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_env(TERM="xterm-256color"),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return _ANSI.sub("", text)


def through_a_pipe(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", *args],
        capture_output=True,
        check=False,
        timeout=120,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8")


def _paragraph_after(lines: list[str], start: str) -> list[str]:
    """The line that starts (after its indent) with ``start``, and the lines it wrapped onto (indented deeper
    than the next item, a cause's head at two spaces)."""
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith(start))
    out = [lines[first]]
    for line in lines[first + 1 :]:
        if not line.startswith("    "):
            break
        out.append(line)
    return out


@pytest.fixture(scope="module")
def narrow() -> str:
    return in_terminal(["analyze", str(TRACE), "--no-progress"], 80)


@pytest.fixture(scope="module")
def wide() -> str:
    return in_terminal(["analyze", str(TRACE), "--no-progress"], 160)


@pytest.fixture(scope="module")
def piped() -> str:
    return through_a_pipe(["analyze", str(TRACE)])


def test_80_columns_wraps_to_the_terminal_and_keeps_indents(narrow: str) -> None:
    lines = narrow.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    fix = _paragraph_after(lines, "fix: put a breakpoint at the end of what requests share")
    assert len(fix) > 1  # it wraps at 80...
    assert all(line.startswith("    ") for line in fix)  # ...and every wrapped line keeps the indent
    assert "PromptLayout.context, both in cachepoint.core.prompt" in " ".join(x.strip() for x in fix)
    # The legend's meanings wrap inside their column, under the meaning, not under the key.
    others = next(i for i, line in enumerate(lines) if line.lstrip().startswith("the others"))
    column = lines[others].index("auto, stable_prefix")
    assert lines[others + 1][:column].strip() == ""
    assert lines[others + 1][column:].strip()


def test_160_columns_uses_the_width(wide: str, narrow: str) -> None:
    lines = wide.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 160
    assert max(len(line.rstrip()) for line in lines) > 100
    assert len(lines) < len(narrow.splitlines())


def test_a_pipe_gets_whole_lines_without_padding_or_colors(piped: str) -> None:
    lines = piped.splitlines()
    assert "\x1b[" not in piped
    assert not [line for line in lines if line != line.rstrip()]  # no padding to a width
    fixes = [line for line in lines if line.lstrip().startswith("fix: ")]
    assert fixes
    assert all(line.rstrip().endswith((")", "warm", "all)", "changes")) for line in fixes), fixes  # not cut
    assert any(len(line) > 160 for line in lines)  # not hard-wrapped at 80 (nor at any width)


@pytest.mark.parametrize("columns", [60, 150])
def test_help_wraps_to_the_terminal_without_rst(columns: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "analyze", "--help"],
        capture_output=True,
        check=False,
        timeout=60,
        env=_env(COLUMNS=str(columns)),
    )
    assert done.returncode == 0
    text = done.stdout.decode()
    assert "``" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    if columns > 100:
        assert max(len(line) for line in lines) > 90  # it uses the width it has
    assert "TRACE is JSONL, plain or gzip/xz/zstd-compressed" in text


def test_the_report_names_its_numbers(piped: str) -> None:
    # Two costs for the same requests, named apart; estimates marked; one format per kind; the legend; what next.
    assert "(recorded markers, replayed)" in piped
    assert "today" not in piped
    assert re.search(r"~[0-9]{1,3}(,[0-9]{3})+ prompt tokens", piped)
    assert not re.search(r"[0-9]\.[0-9]+[KM]\b", piped)  # no 6.7K next to 6,655
    assert not re.search(r"read [0-9][0-9,]*:", piped)  # 'but read ~4,989:': an estimate says so
    assert "A request can have two causes" in piped
    for key in ("recorded", "none", "best", "*", "the others"):
        assert re.search(rf"^  {re.escape(key)} +\S", piped, re.MULTILINE), key
    assert "cachepoint.core.prompt.auto()" in piped
    for hint in ("--html FILE", "--json", "docs/guides/analyze.md", "TraceWriter", "CachepointCallbackHandler"):
        assert hint in piped, hint


def test_reported_usage_is_named_billed_as_reported() -> None:
    text = through_a_pipe(["analyze", str(HAND)])
    assert "billed, as reported" in text
    assert "recorded markers, replayed" in text
    assert "Usage the trace reports vs the prediction" in text


def test_one_of_a_kind_is_singular(tmp_path: Path, words_trace: Path) -> None:
    text = through_a_pipe(["analyze", str(words_trace), "--skip-invalid"])
    header = text.splitlines()[1]
    assert header.startswith("1 request · 1 session · 1 tenant")
    assert "1 invalid line skipped" in header
    assert "1 request share" in text or "0 requests share" in text


@pytest.fixture
def words_trace(tmp_path: Path) -> Path:
    body = (
        '{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": '
        '"Hello there"}]}, "timestamp": 5, "session": "s1"}'
    )
    path = tmp_path / "one.jsonl"
    path.write_text(body + "\n{broken\n", encoding="utf-8")
    return path
