"""`cachepoint analyze` on files: exit codes, bad-line messages, --skip-invalid, --json keys, --html, checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.cli import main

Write = Callable[[Sequence[Any], str], Path]


def _body(n: int, words: Callable[[int, str], str]) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": [{"type": "text", "text": words(1500, "s"), "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": words(10, "q" + chr(97 + n))}],
    }


@pytest.fixture
def good(write_trace: Write, words: Callable[[int, str], str]) -> Path:
    records = [{"request": _body(n, words), "timestamp": 10 * n, "session": f"s{n % 2}"} for n in range(6)]
    return write_trace(records, "good.jsonl")


def test_text_report_exit_0(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(good)]) == 0
    out = capsys.readouterr().out
    assert "Scenarios, replayed through the provider cache model" in out
    assert "recorded *" in out  # the trace caches: its own markers are what the misses explain
    assert "Prefix sharing" in out


def test_bad_line_exits_2_naming_line_and_field(
    write_trace: Write, words: Callable[[int, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _body(0, words)
    bad["messages"] = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": [{"type": "foo"}]},
    ]
    path = write_trace([{"request": _body(n, words)} for n in range(16)] + [{"request": bad}], "bad.jsonl")
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 17: request.messages[2].content[0]: unknown block type 'foo'" in err
    assert "--skip-invalid" in err


def test_skip_invalid_counts_and_goes_on(
    write_trace: Write, words: Callable[[int, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[Any] = [{"request": _body(n, words), "timestamp": n} for n in range(4)]
    lines.insert(2, "{broken")
    lines.append({"request": {**_body(0, words), "messages": "nope"}})
    path = write_trace(lines, "mixed.jsonl")
    assert main(["analyze", str(path), "--skip-invalid", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"]["requests"] == 4
    assert report["trace"]["invalid_lines"] == 2
    assert report["trace"]["errors"][0].startswith("line 3: invalid JSON")
    assert report["trace"]["errors"][1].startswith("line 6: request.messages: expected")
    assert report["warnings"][0].startswith("2 invalid line(s) skipped")


def test_missing_file_and_bad_options_exit_2(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "/nonexistent/trace.jsonl"]) == 2
    assert main(["analyze", str(good), "--compare", "magic(3)"]) == 2
    assert "unknown strategy 'magic'" in capsys.readouterr().err
    assert main(["analyze", str(good), "--provider", "gemini"]) == 2
    assert main(["analyze", str(good), "--strategy", "none"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(good), "--fail-under-hit-rate", "1.5"])
    assert info.value.code == 2


def test_json_keys_are_stable(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(good), "--json", "--compare", "auto", "--compare", "rolling(2)"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "format",
        "source",
        "trace",
        "sharing",
        "scenarios",
        "focus",
        "best",
        "observed",
        "misses",
        "timeline",
        "optimum",
        "warnings",
        "elapsed_s",
    }
    assert report["optimum"] is None  # asked for with --optimum
    assert report["format"] == 1
    assert set(report["trace"]) == {
        "requests",
        "invalid_lines",
        "errors",
        "timestamps",
        "first_time",
        "last_time",
        "duration_s",
        "providers",
        "models",
        "tenants",
        "sessions",
    }
    assert [s["name"] for s in report["scenarios"]] == ["recorded", "none", "auto", "rolling"]
    assert set(report["scenarios"][0]) == {
        "name",
        "kind",
        "label",
        "spec",
        "requests",
        "hit_requests",
        "write_requests",
        "hit_rate",
        "cached_token_ratio",
        "write_rate",
        "tokens",
        "cost_usd",
        "without_cache_usd",
        "savings_usd",
        "savings_ratio",
        "unpriced_requests",
    }
    assert set(report["scenarios"][0]["tokens"]) == {
        "input",
        "cache_read",
        "cache_write",
        "uncached",
        "output",
        "cache_write_by_ttl",
    }
    assert set(report["sharing"]) >= {"shared_tokens", "shared_ratio", "session_shared_tokens", "top_sessions"}
    assert set(report["misses"]) == {"scenario", "missed_requests", "lost_tokens", "causes"}
    assert set(report["timeline"]) == {"at", "times", "cost_usd", "buckets"}
    assert report["trace"]["sessions"] == 2


def test_fail_under_checks_the_chosen_scenario(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Six requests 10 s apart with the system prompt marked: the first writes, the other five read.
    assert main(["analyze", str(good), "--json", "--fail-under-hit-rate", "80%"]) == 0
    assert main(["analyze", str(good), "--json", "--fail-under-hit-rate", "0.9"]) == 1  # 5/6 = 83%
    assert "check failed: hit rate of recorded is 83.3% < 90.0%" in capsys.readouterr().err
    assert main(["analyze", str(good), "--json", "--strategy", "auto", "--fail-under-cached-ratio", "0.99"]) == 1


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls.extend(value or "" for name, value in attrs if name in ("src", "href", "xlink:href"))


def test_html_is_self_contained(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["analyze", str(good), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    assert not [u for u in parser.urls if re.match(r"(?i)\s*(https?:)?//", u)]
    assert not parser.tags & {"script", "link", "img", "iframe"}
    assert not re.search(r"https?://", page)
    assert page.count("<svg") >= 2  # cost over the trace, cached-token ratio over time
    assert "Cumulative cost by scenario" in page
    assert f"HTML report: {out}" in capsys.readouterr().out


def test_stdin_and_module_entry_point(good: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "analyze", "-", "--json"],
        input=good.read_bytes(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["trace"]["requests"] == 6


def test_jobs_split_the_work_and_report_the_same(good: Path) -> None:
    # Through the module entry point, as a user runs it: spawned preparation workers and forked replay.
    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "cachepoint.core.cli", "analyze", str(good), "--json", *args],
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert not done.stderr, done.stderr.decode()  # no worker tracebacks
        report = json.loads(done.stdout)
        report.pop("elapsed_s")
        return report

    one = run("--jobs", "1")
    assert one == run("--jobs", "2")
    assert one["trace"]["requests"] == 6


def test_bare_bodies_without_timestamps(write_trace: Write, words: Callable[[int, str], str], capsys: Any) -> None:
    path = write_trace([_body(n, words) for n in range(3)], "bare.jsonl")
    assert main(["analyze", str(path), "--json", "--interval", "30"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"]["timestamps"] == "synthetic"
    assert report["trace"]["duration_s"] == 60.0  # three requests, 30 s apart
    assert any("no timestamps" in w for w in report["warnings"])
