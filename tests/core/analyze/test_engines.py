"""Per-shard work on an engine: a trace split by tenant gives, shard for shard, the report each tenant's traffic
gets alone, and the same reports on a Dask cluster (its `LocalCluster`, real worker processes) as on local
processes."""

from __future__ import annotations

import heapq
import json
import lzma
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze import analyze
from cachepoint.core.analyze.engines import EngineError, analyze_shard, map_shards, merge_scenarios, shard_by_tenant

TRACES = Path(__file__).parents[3] / "examples" / "traces"
# Three shipped traces, one tenant each (coding_session: dev-team, rag_sessions: docs-assistant, timestamp_prompt:
# northwind), the smallest ones, so that the test stays short.
SHIPPED = ["coding_session", "rag_sessions", "timestamp_prompt"]
OPTIONS = {"strategies": ["auto", "rolling(4)"]}


def _stable(report: Any) -> Any:
    """The report without what depends on the run (its source name, its duration)."""
    if isinstance(report, dict):
        return {k: _stable(v) for k, v in report.items() if k not in ("source", "elapsed_s")}
    if isinstance(report, list):
        return [_stable(v) for v in report]
    return report


@pytest.fixture(scope="module")
def traces() -> dict[str, bytes]:
    return {name: lzma.decompress((TRACES / f"{name}.jsonl.xz").read_bytes()) for name in SHIPPED}


@pytest.fixture(scope="module")
def mixed(traces: dict[str, bytes]) -> list[bytes]:
    """One trace of three tenants, their lines interleaved as a day's log would have them: in start order (the
    analyzer reorders only within its reorder window)."""
    parts = [data.splitlines(keepends=True) for data in traces.values()]
    return list(heapq.merge(*parts, key=_start))


def _start(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["timestamp"])


@pytest.fixture(scope="module")
def shards(mixed: list[bytes]) -> dict[str, bytes]:
    return shard_by_tenant(mixed, OPTIONS)


def test_a_tenant_shard_is_reported_as_its_traffic_alone(traces: dict[str, bytes], shards: dict[str, bytes]) -> None:
    assert sorted(shards) == ["dev-team", "docs-assistant", "northwind"]
    reports = dict(zip(shards, map_shards(analyze_shard, shards.values(), workers=2), strict=True))
    for name, tenant in zip(SHIPPED, ["dev-team", "docs-assistant", "northwind"], strict=True):
        alone = analyze(str(TRACES / f"{name}.jsonl.xz"), **OPTIONS)  # type: ignore[arg-type]
        assert alone.requests == traces[name].count(b"\n")
        assert _stable(json.loads(reports[tenant])) == _stable(alone.to_dict()), tenant


def test_dask_local_cluster_gives_the_local_reports(shards: dict[str, bytes]) -> None:
    pytest.importorskip("distributed", reason="the dask engine is the cachepoint-core[distributed] extra")
    local = list(map_shards(analyze_shard, shards.values(), "local", workers=2))
    on_dask = list(map_shards(analyze_shard, shards.values(), "dask", workers=2))
    assert [_stable(json.loads(r)) for r in on_dask] == [_stable(json.loads(r)) for r in local]
    requests = {tenant: json.loads(r)["trace"]["requests"] for tenant, r in zip(shards, on_dask, strict=True)}
    assert requests == {"dev-team": 220, "docs-assistant": 201, "northwind": 269}


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


def test_merged_shard_scenarios_are_the_whole_traces(mixed: list[bytes], shards: dict[str, bytes]) -> None:
    # The three tenants' traffic analyzed in one run, against the shards' reports merged: every count to the
    # request and the token, costs to the float rounding of a sum taken in another order.
    whole = analyze(mixed, **OPTIONS).to_dict()["scenarios"]  # type: ignore[arg-type]
    merged = merge_scenarios([json.loads(r) for r in map_shards(analyze_shard, shards.values(), workers=2)])
    assert [s["name"] for s in merged] == [s["name"] for s in whole]
    for got, want in zip(merged, whole, strict=True):
        for key in ("requests", "hit_requests", "write_requests", "tokens", "unpriced_requests", "hit_rate"):
            assert got[key] == want[key], (got["name"], key)
        for key in ("cost_usd", "without_cache_usd"):
            assert got[key] == pytest.approx(want[key], rel=1e-12), (got["name"], key)
