"""`cachepoint analyze` meets bad input as a user does, from the command line: every case is `error: FILE: ...` on
stderr with exit code 2 (exit 1 means a `--fail-under-*` check failed), never a traceback, and never after a
long analysis that is then lost."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TRACES = Path(__file__).parents[3] / "examples" / "traces"


def cli(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``cachepoint analyze ARGS`` as a separate process, the way a user runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "analyze", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    )


def assert_bad_input(done: subprocess.CompletedProcess[str], name: str, *words: str) -> str:
    """Exit 2, one ``error: NAME: ...`` message naming the file, the expected words in it, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: {name}: "), done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)
    return done.stderr


@pytest.fixture
def plain(tmp_path: Path, words: Callable[[int, str], str]) -> bytes:
    """A small valid trace: six requests sharing a cached system prompt."""
    lines = []
    for n in range(6):
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "system": [{"type": "text", "text": words(1500, "s"), "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": words(10, "q" + chr(97 + n))}],
        }
        lines.append(json.dumps({"request": body, "timestamp": 10 * n, "session": f"s{n % 2}"}))
    return ("\n".join(lines) + "\n").encode()


# --- compression is read off the bytes, damage is an error naming the file ---------------------------------------


def test_truncated_xz_is_a_clear_error(tmp_path: Path) -> None:
    data = (TRACES / "support_agent.jsonl.xz").read_bytes()
    path = tmp_path / "cut.jsonl.xz"
    path.write_bytes(data[: len(data) // 2])
    assert_bad_input(cli(str(path)), str(path), "xz", "ends early")


def test_damaged_xz_is_a_clear_error(tmp_path: Path, plain: bytes) -> None:
    data = bytearray(lzma.compress(plain * 20))
    data[len(data) // 2 : len(data) // 2 + 16] = b"\x00" * 16
    path = tmp_path / "damaged.jsonl.xz"
    path.write_bytes(bytes(data))
    assert_bad_input(cli(str(path)), str(path), "damaged xz data")


def test_truncated_gzip_is_a_clear_error(tmp_path: Path, plain: bytes) -> None:
    data = gzip.compress(plain * 20)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_bad_input(cli(str(path)), str(path), "gzip", "ends early")


def test_xz_named_gz_is_read_as_xz(tmp_path: Path, plain: bytes) -> None:
    path = tmp_path / "trace.jsonl.gz"
    path.write_bytes(lzma.compress(plain))
    done = cli(str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"]["requests"] == 6


def test_plain_text_named_xz_is_read_as_plain(tmp_path: Path, plain: bytes) -> None:
    path = tmp_path / "trace.jsonl.xz"
    path.write_bytes(plain)
    done = cli(str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"]["requests"] == 6


def test_gzip_without_gz_name_and_on_stdin(tmp_path: Path, plain: bytes) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(gzip.compress(plain))
    done = cli(str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"]["requests"] == 6
    done = cli("-", "--json", stdin=lzma.compress(plain))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"]["requests"] == 6


def test_binary_noise_named_xz_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "noise.jsonl.xz"
    path.write_bytes(bytes(range(7, 250)) * 3)
    assert_bad_input(cli(str(path)), str(path), "line 1: invalid JSON")


def test_other_compressions_are_named(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl.bz2"
    path.write_bytes(b"BZh91AY&SY" + b"\x00" * 32)
    assert_bad_input(cli(str(path)), str(path), "bzip2", "decompress it first")


# --- paths --------------------------------------------------------------------------------------------------------


def test_a_directory_is_not_a_missing_file(tmp_path: Path) -> None:
    err = assert_bad_input(cli(str(tmp_path)), str(tmp_path), "no trace files in this folder")
    assert "no such file" not in err


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert_bad_input(cli(str(missing)), str(missing), "no such file")


def test_html_into_a_missing_folder_fails_before_the_analysis(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "today.html"
    trace = TRACES / "support_agent.jsonl.xz"
    done = cli(str(trace), "--html", str(out))
    assert_bad_input(done, str(out), "no such folder", str(out.parent))
    assert done.stdout == ""  # nothing was analyzed, so nothing is lost
    assert not out.parent.exists()


def test_html_onto_a_directory_fails_before_the_analysis(tmp_path: Path, plain: bytes) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(plain)
    done = cli(str(trace), "--html", str(tmp_path))
    assert_bad_input(done, str(tmp_path), "is a directory")
    assert done.stdout == ""


# --- empty traces and envelopes without a body ---------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n\n   \n"], ids=["empty", "blank-lines"])
def test_a_trace_without_requests_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    assert_bad_input(cli(str(path)), str(path), "no requests")
    compressed = tmp_path / "empty.jsonl.xz"
    compressed.write_bytes(lzma.compress(content))
    assert_bad_input(cli(str(compressed)), str(compressed), "no requests")


def test_only_invalid_lines_skipped_is_no_requests(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{broken\n[1, 2]\n", encoding="utf-8")
    err = assert_bad_input(cli(str(path), "--skip-invalid"), str(path), "no requests", "2 invalid lines")
    assert "line 1: invalid JSON" in err


def test_an_envelope_without_request_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "env.jsonl"
    record: dict[str, Any] = {"timestamp": 5, "session": "s1", "usage": {"input_tokens": 3, "output_tokens": 1}}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    err = assert_bad_input(cli(str(path)), str(path), "line 1: request: missing")
    assert "messages" not in err


# --- found by fuzzing the entry point (test_cli_fuzz.py) ------------------------------------------------------------


def test_a_timestamp_past_year_9999_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "far.jsonl"
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    record = {"request": body, "timestamp": 2**70}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert_bad_input(cli(str(path)), str(path), "line 1: timestamp: expected")


def test_a_block_type_of_the_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": []}]}]}
    path.write_text(json.dumps({"request": body}) + "\n", encoding="utf-8")
    assert_bad_input(cli(str(path)), str(path), "line 1: request.messages[0].content[0]")
