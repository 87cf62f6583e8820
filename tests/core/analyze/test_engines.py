"""`map_shards`: a function over shards on an engine, results in shard order, engines named when they cannot run.
What `cachepoint analyze --engine` runs on it, and its exact merge, is tested in test_sharded.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cachepoint.core.analyze.engines import EngineError, map_shards


def test_results_come_back_in_shard_order() -> None:
    shards = [json.dumps([f"shard {n}"]).encode() for n in range(9)]
    assert list(map_shards(bytes.upper, shards, workers=2)) == [s.upper() for s in shards]


def test_an_unknown_engine_is_named() -> None:
    with pytest.raises(EngineError, match="spark: expected one of local, dask"):
        list(map_shards(bytes.upper, [b"[]"], "spark"))


def test_without_distributed_the_error_names_the_extra() -> None:
    # A Python where `import distributed` fails, as where the extra is not installed.
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from cachepoint.core.analyze.engines import EngineError, map_shards\n"
        "try:\n    list(map_shards(bytes.upper, [b'[]'], 'dask', workers=1))\n"
        "except EngineError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert "pip install 'cachepoint-core[distributed]'" in done.stdout, done.stdout + done.stderr
