"""`cachepoint analyze` reads a directory, a glob pattern or several trace files as one trace, each file plain or
gzip/xz/zstd-compressed (told by its bytes), and writes its JSON report to a file (`--json-out FILE`) checked
before the analysis runs. Run as a separate process, the way a user runs it."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from .test_cli_input import TRACES, assert_bad_input, cli

_VOLATILE = ("source", "elapsed_s")


def _stable(report: Any) -> Any:
    """The report without what depends on the run rather than the traffic (its source name, its duration)."""
    if isinstance(report, dict):
        return {k: _stable(v) for k, v in report.items() if k not in _VOLATILE}
    if isinstance(report, list):
        return [_stable(v) for v in report]
    return report


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return _stable(json.loads(done.stdout))


@pytest.fixture(scope="module")
def shipped() -> bytes:
    """A shipped trace, decompressed: 300-odd requests of a support agent."""
    return lzma.decompress((TRACES / "support_agent.jsonl.xz").read_bytes())


def _split(data: bytes, parts: int) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    size = -(-len(lines) // parts)
    return [b"".join(lines[k : k + size]) for k in range(0, len(lines), size)]


_PACK = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


def test_a_directory_of_mixed_compressions_reads_as_the_concatenated_file(tmp_path: Path, shipped: bytes) -> None:
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(shipped)
    folder = tmp_path / "day"
    folder.mkdir()
    # Names sort in the order of the parts; the suffixes lie on purpose (the bytes decide), and a file that is
    # not a trace is left alone.
    kinds = ["zstd", "plain", "xz", "gzip"]
    names = ["00.jsonl.gz", "01.jsonl", "02.jsonl.zst", "03.jsonl.xz"]
    for name, kind, part in zip(names, kinds, _split(shipped, 4), strict=True):
        (folder / name).write_bytes(_PACK[kind](part))
    (folder / "README.txt").write_text("not a trace")

    expected = _json(cli(str(whole), "--json"))
    assert expected["trace"]["requests"] > 100
    assert _json(cli(str(folder), "--json")) == expected
    assert _json(cli(f"{folder}/*.jsonl*", "--json")) == expected  # a quoted glob
    assert _json(cli(*(str(folder / n) for n in names), "--json")) == expected  # the shell's glob


def test_a_folder_on_two_processes_gives_the_same_report(tmp_path: Path, shipped: bytes) -> None:
    for n, part in enumerate(_split(shipped, 3)):
        (tmp_path / f"{n}.jsonl.zst").write_bytes(_PACK["zstd"](part))
    expected = _json(cli(str(tmp_path), "--json"))
    assert _json(cli(str(tmp_path), "--json", "--jobs", "2")) == expected


def test_the_text_report_names_the_folder(tmp_path: Path, shipped: bytes) -> None:
    (tmp_path / "a.jsonl.zst").write_bytes(_PACK["zstd"](shipped))
    done = cli(str(tmp_path), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert str(tmp_path) in done.stdout


def test_a_zstd_trace_and_zstd_on_stdin(tmp_path: Path, shipped: bytes) -> None:
    packed = _PACK["zstd"](shipped)
    path = tmp_path / "trace.jsonl"  # no .zst in the name
    path.write_bytes(packed)
    expected = _json(cli(str(TRACES / "support_agent.jsonl.xz"), "--json"))
    assert _json(cli(str(path), "--json")) == expected
    assert _json(cli("-", "--json", stdin=packed)) == expected
    # Two zstd frames one after the other (`cat a.zst b.zst`) are one stream, as `zstd -d` reads them.
    halves = _split(shipped, 2)
    path.write_bytes(_PACK["zstd"](halves[0]) + _PACK["zstd"](halves[1]))
    assert _json(cli(str(path), "--json")) == expected


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert_bad_input(cli(str(tmp_path)), str(tmp_path), "no trace files")


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    pattern = f"{tmp_path}/*.jsonl.zst"
    assert_bad_input(cli(pattern), pattern, "no files match")


def test_a_damaged_zstd_file_in_a_folder_is_named(tmp_path: Path, shipped: bytes) -> None:
    (tmp_path / "a.jsonl").write_bytes(_split(shipped, 2)[0])
    data = bytearray(_PACK["zstd"](_split(shipped, 2)[1]))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    damaged = tmp_path / "b.jsonl.zst"
    damaged.write_bytes(bytes(data))
    assert_bad_input(cli(str(tmp_path)), str(damaged), "damaged zstd data")


def test_a_truncated_zstd_file_is_an_error(tmp_path: Path, shipped: bytes) -> None:
    data = _PACK["zstd"](shipped)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    assert_bad_input(cli(str(path)), str(path), "zstd", "ends early")


def test_a_bad_line_in_the_second_file_names_that_file_and_its_line(tmp_path: Path, shipped: bytes) -> None:
    first, second = _split(shipped, 2)
    (tmp_path / "a.jsonl").write_bytes(first)
    lines = second.splitlines(keepends=True)
    lines[2] = b'{"request": [1, 2]}\n'
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(lines)))
    assert_bad_input(cli(str(tmp_path)), str(tmp_path / "b.jsonl.gz"), "line 3: request")


def test_files_out_of_time_order_name_each_file_and_its_own_line(tmp_path: Path, shipped: bytes) -> None:
    # Files are read in name order: here the later half of the day comes first, so the second file's first request
    # starts hours before requests already read. The error names both files and the lines as each file numbers them.
    first, second = _split(shipped, 2)
    (tmp_path / "a.jsonl").write_bytes(second)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(first))
    message = assert_bad_input(cli(str(tmp_path)), str(tmp_path / "b.jsonl.gz"), "line 1 starts", "--reorder-window")
    assert f"but {tmp_path / 'a.jsonl'} line " in message, message


def test_stdin_cannot_be_mixed_with_files(tmp_path: Path, shipped: bytes) -> None:
    (tmp_path / "a.jsonl").write_bytes(shipped)
    done = cli("-", str(tmp_path / "a.jsonl"), stdin=shipped)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: -: "), done.stderr


def test_without_zstandard_the_error_names_the_extra(tmp_path: Path, shipped: bytes) -> None:
    path = tmp_path / "trace.jsonl.zst"
    path.write_bytes(_PACK["zstd"](shipped))
    # A Python where `import zstandard` fails, as where the extra is not installed.
    code = "import sys; sys.modules['zstandard'] = None; from cachepoint.core.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "analyze", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {path}: "), done.stderr
    assert "cachepoint-core[zstd]" in done.stderr


# --- the JSON report into a file ------------------------------------------------------------------------------------


def test_json_into_a_missing_folder_fails_before_the_analysis(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "today.json"
    done = cli(str(TRACES / "support_agent.jsonl.xz"), "--json-out", str(out))
    assert_bad_input(done, str(out), "no such folder", str(out.parent))
    assert done.stdout == ""  # nothing was analyzed, so nothing is lost
    assert not out.parent.exists()


def test_json_into_a_file_and_to_stdout(tmp_path: Path) -> None:
    trace = str(TRACES / "support_agent.jsonl.xz")
    expected = _json(cli(trace, "--json"))
    out = tmp_path / "report.json"
    done = cli(trace, "--json-out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert _stable(json.loads(out.read_text())) == expected
    assert "JSON report: " in done.stdout  # the terminal report is printed as well, as with --html
    assert _json(cli(trace, "--json-out", "-")) == expected


def test_json_before_the_trace_is_still_a_flag() -> None:
    trace = str(TRACES / "support_agent.jsonl.xz")
    done = cli("--json", trace)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"]["requests"] > 100
    assert Path(trace).exists()  # and the trace was read, not written over
