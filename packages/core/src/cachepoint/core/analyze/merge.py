"""From tallies to the report: `merge_tallies` adds the tallies of replays of disjoint tenants into one,
`build_report` turns a tally into the `AnalysisReport`. One path: `cachepoint.core.analyze.analyze` builds its
report through `build_report` too, so a sharded run and a one-process run differ only in how the tally was made.

>>> from cachepoint.core.analyze.tally import ReplayTally
>>> merged = merge_tallies([ReplayTally.empty(["none"]), ReplayTally.empty(["none"])])
>>> merged.sharing["requests"]
0
>>> merged.close()
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from cachepoint.core.analyze.replay import Replay
from cachepoint.core.analyze.report import AnalysisReport
from cachepoint.core.analyze.run import _assemble, _Lines, _snippets
from cachepoint.core.analyze.tally import ReplayTally, TraceTally
from cachepoint.core.traces import TraceSource

__all__ = ["build_report", "merge_tallies"]


def merge_tallies(tallies: Iterable[ReplayTally]) -> ReplayTally:
    """The tally of all ``tallies``' requests, as one replay of them would make it (`ReplayTally.merge`: any
    order, any grouping gives the same). Takes the tallies over: their rows' files are deleted as they are
    merged. Raises `ValueError` for none, or for tallies of other scenarios."""
    merged: ReplayTally | None = None
    for tally in tallies:
        if merged is None:
            merged = tally
            continue
        combined = merged.merge(tally)
        merged.close()
        tally.close()
        merged = combined
    if merged is None:
        raise ValueError("tallies: expected at least one")
    return merged


def build_report(
    replay: Replay,
    tally: ReplayTally,
    *,
    source: TraceSource,
    lines: _Lines,
    started: float | None = None,
) -> AnalysisReport:
    """The report of a tally: `Replay.finish` for the figures, text snippets of the miss examples read back from
    ``lines`` (the trace's lines: the tally keeps line numbers and offsets, not text), and what the tally says
    of the trace (`ReplayTally.trace`). ``started``: `time.perf_counter` at the start, for ``elapsed_s``."""
    result = replay.finish(tally)
    _snippets(lines, result.examples)
    warnings: list[str] = []
    trace = tally.trace if tally.trace is not None else TraceTally()
    timestamps = trace.timestamps(warnings)
    return _assemble(
        source,
        trace,
        warnings,
        result,
        timestamps=timestamps,
        started=started if started is not None else time.perf_counter(),
    )
