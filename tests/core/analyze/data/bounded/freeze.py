"""Freeze the reports `test_bounded.py` compares with (run once, with the analyzer before bounded replay).

    python tests/core/analyze/data/bounded/freeze.py

Writes one ``NAME.json.gz`` per shipped trace in ``examples/traces`` and ``generated_20k.json.gz`` for the
20,000-request trace `benchmarks/bench_analyze.py` generates (seed 11); the trace itself is not stored, the test
generates it again (same seed, same bytes). ``elapsed_s`` is dropped: it is the one field that is not a result.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import orjson

HERE = Path(__file__).parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_analyze import build_trace  # noqa: E402
from cachepoint.core.analyze import analyze  # noqa: E402

TRACES = sorted((ROOT / "examples" / "traces").glob("*.jsonl*"))
GENERATED = 20_000


def frozen(report: object) -> bytes:
    data = report.to_dict()  # type: ignore[attr-defined]
    data.pop("elapsed_s", None)
    return gzip.compress(orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2), mtime=0)


def main() -> None:
    for path in TRACES:
        name = path.name.split(".")[0]
        (HERE / f"{name}.json.gz").write_bytes(frozen(analyze(path)))
        print(name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.jsonl"
        build_trace(path, GENERATED)
        (HERE / "generated_20k.json.gz").write_bytes(frozen(analyze(path)))
        print("generated_20k")


if __name__ == "__main__":
    main()
