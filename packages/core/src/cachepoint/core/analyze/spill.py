"""What the bounded replay keeps on disk instead of in memory (both in temporary files, gone when closed).

- `PrintStore`: the fingerprint of every block seen (`BlockPrint`). The diagnosis reads the fingerprints of the
  requests it compares, which are recent ones; a block no kept request uses any more goes to a temporary SQLite
  database, read back only if a later request brings the block again. A worker describes a block once (its memo
  of blocks sent), so nothing seen may be forgotten: a fingerprint moves to disk, never away.
- `RowSpill`: per request, the numbers the report's timeline is drawn from (its start, its prompt tokens, every
  scenario's running cost, the charted scenarios' tokens read). Where the timeline samples and how wide its
  buckets are depend on the number of requests and the last start, known only at the end: the rows are
  written as they come and read back once, so the timeline is the one a replay of the whole trace in memory draws.
- `SessionTotals`: per session, its requests, prompt tokens and tokens shared with its own earlier turns, for the
  report's count of sessions and its top sessions. A day of traffic has as many sessions as it has
  conversations; the recent ones stay in memory, the others wait in a temporary SQLite database and are ranked
  there at the end, in the order a ranking in memory gives.

Values are stored as JSON text and float64 arrays: no pickle.
"""

from __future__ import annotations

import sqlite3
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson

from cachepoint.core.analyze.fingerprints import BlockPrint

__all__ = ["PrintStore", "RowSpill", "SessionTotals"]

_FLUSH = 8192  # fingerprints or rows gathered before a write


class PrintStore(Mapping[str, BlockPrint]):
    """Block fingerprints by block hash: in memory while a kept request uses the block, else on disk.

    >>> from cachepoint.core.analyze.fingerprints import block_print
    >>> store = PrintStore()
    >>> store.add({"b1": block_print({"type": "text", "text": "Hi"})})
    >>> store.retire("b1"); store.flush()
    >>> store.get("b1") == block_print({"type": "text", "text": "Hi"}), "b1" in store.live, len(store)
    (True, False, 1)
    >>> store.close()
    """

    def __init__(self) -> None:
        self.live: dict[str, BlockPrint] = {}
        self._retired: dict[str, BlockPrint] = {}
        self._db: sqlite3.Connection | None = None
        self._stored = 0

    def add(self, prints: Mapping[str, BlockPrint]) -> None:
        """Fingerprints a request brought (blocks its worker had not described before)."""
        self.live.update(prints)

    def retire(self, block: str) -> None:
        """No kept request uses ``block`` now: its fingerprint may go to disk."""
        found = self.live.pop(block, None)
        if found is not None:
            self._retired[block] = found
            if len(self._retired) >= _FLUSH:
                self.flush()

    def flush(self) -> None:
        """Write the retired fingerprints to the database."""
        if not self._retired:
            return
        if self._db is None:
            self._db = sqlite3.connect("")  # "": a private temporary database on disk, deleted when closed
            self._db.execute("CREATE TABLE prints (block TEXT PRIMARY KEY, print BLOB)")
        rows = [(k, orjson.dumps(list(v))) for k, v in self._retired.items()]
        self._db.executemany("INSERT OR REPLACE INTO prints VALUES (?, ?)", rows)
        self._stored += len(rows)
        self._retired.clear()

    def __getitem__(self, block: str) -> BlockPrint:
        found = self.live.get(block)
        if found is None:
            found = self._retired.get(block)
        if found is None and self._db is not None:
            row = self._db.execute("SELECT print FROM prints WHERE block = ?", (block,)).fetchone()
            if row is not None:
                v = orjson.loads(row[0])
                found = BlockPrint(v[0], v[1], v[2], v[3], tuple(v[4]))
        if found is None:
            raise KeyError(block)
        return found

    def __iter__(self) -> Iterator[str]:  # the replay only looks fingerprints up; iterating covers memory only
        yield from self.live
        yield from self._retired

    def __len__(self) -> int:
        return len(self.live) + len(self._retired) + self._stored

    @property
    def in_memory(self) -> int:
        """Fingerprints held in memory (in use by a kept request, or retired and waiting for the next write)."""
        return len(self.live) + len(self._retired)

    def close(self) -> None:
        """Delete the database."""
        if self._db is not None:
            self._db.close()
            self._db = None


class RowSpill:
    """Fixed-width rows of floats written to a temporary file and read back in order.

    >>> spill = RowSpill(3)
    >>> spill.append([1.0, 2.0, 3.0]); spill.append([4.0, 5.0, 6.0])
    >>> [list(row) for row in spill.rows()], spill.count
    ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 2)
    >>> spill.close()
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.buffered = 0  # rows in memory, waiting for the next write
        self.count = 0
        self._buffer = array("d")
        self._file: IO[bytes] | None = None

    def append(self, row: list[float]) -> None:
        """Add a row of ``width`` numbers."""
        self._buffer.extend(row)
        self.count += 1
        self.buffered += 1
        if len(self._buffer) >= _FLUSH * self.width:
            self._write()

    def _write(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open across calls, closed by `close`
        self._buffer.tofile(self._file)
        self._buffer = array("d")
        self.buffered = 0

    def rows(self) -> Iterator[array[float]]:
        """Every row, in the order appended (read once, at the end)."""
        if self._file is not None:
            self._write()
            self._file.seek(0)
            left = self.count
            while left:
                chunk = array("d")
                take = min(left, _FLUSH)
                chunk.fromfile(self._file, take * self.width)
                left -= take
                for k in range(take):
                    yield chunk[k * self.width : (k + 1) * self.width]
            return
        for k in range(self.count):
            yield self._buffer[k * self.width : (k + 1) * self.width]

    def close(self) -> None:
        """Delete the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


#: A session: its cache partition (provider, tenant, model) and its id.
SessionKey = tuple[str, str, str, str]


class SessionTotals:
    """Requests, prompt tokens and tokens shared with earlier turns, per session: the recent sessions in memory
    (at most ``limit``), the others in a temporary database.

    `top` ranks sessions by prompt tokens (most first), then by id, then by first appearance: the order of
    ``sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0][3]))`` over a dict of every session, which is what
    the report showed when they were all kept in memory. A session that comes back after it went to disk is
    added up there: its totals are those of all its requests.

    >>> totals = SessionTotals(limit=1)
    >>> totals.add(("anthropic", "t", "m", "a"), 100, 0); totals.add(("anthropic", "t", "m", "b"), 300, 0)
    >>> totals.add(("anthropic", "t", "m", "a"), 250, 90)  # "a" is on disk by now
    >>> len(totals), totals.top(2)
    (2, [(('anthropic', 't', 'm', 'a'), (2, 350, 90)), (('anthropic', 't', 'm', 'b'), (1, 300, 0))])
    >>> totals.close()
    """

    def __init__(self, limit: int = 20_000) -> None:
        if limit < 1:
            raise ValueError(f"limit: expected 1 or more sessions in memory, got {limit!r}")
        self.limit = limit
        # requests, tokens, shared, first appearance, and its first request's (start, line)
        self._memory: dict[SessionKey, list[Any]] = {}
        self._seen = 0
        self._db: sqlite3.Connection | None = None

    @property
    def in_memory(self) -> int:
        """Sessions held in memory now."""
        return len(self._memory)

    def add(self, key: SessionKey, tokens: int, shared: int, *, started: tuple[float, int] = (0.0, 0)) -> None:
        """One request of session ``key``: ``tokens`` of prompt, ``shared`` of them sent earlier in the session;
        ``started``: the request's (start, line), kept for the session's first request (`ranked`)."""
        totals = self._memory.get(key)
        if totals is None:
            totals = self._memory[key] = [0, 0, 0, self._seen, *started]
            self._seen += 1
            if len(self._memory) > self.limit:
                # The sessions that appeared first are the likeliest to be over: half of them go to disk.
                self._write(list(self._memory)[: max(1, self.limit // 2)])
        totals[0] += 1
        totals[1] += tokens
        totals[2] += shared

    def _write(self, keys: list[SessionKey]) -> None:
        if self._db is None:
            self._db = sqlite3.connect("")  # "": a private temporary database on disk, deleted when closed
            self._db.execute(
                "CREATE TABLE sessions (provider TEXT, tenant TEXT, model TEXT, session TEXT, requests INTEGER, "
                "tokens INTEGER, shared INTEGER, first INTEGER, started_at REAL, started_line INTEGER, "
                "PRIMARY KEY (provider, tenant, model, session))"
            )
        memory = self._memory
        rows = [(*key, *memory.pop(key)) for key in keys]
        self._db.executemany(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "requests = requests + excluded.requests, tokens = tokens + excluded.tokens, "
            "shared = shared + excluded.shared, first = min(first, excluded.first), "
            "started_at = CASE WHEN excluded.first < first THEN excluded.started_at ELSE started_at END, "
            "started_line = CASE WHEN excluded.first < first THEN excluded.started_line ELSE started_line END",
            rows,
        )

    def __len__(self) -> int:
        """Sessions seen (the ones in memory are written to disk first, if any are there)."""
        if self._db is None:
            return len(self._memory)
        self._write(list(self._memory))
        (count,) = self._db.execute("SELECT count(*) FROM sessions").fetchone()
        return int(count)

    def top(self, n: int) -> list[tuple[SessionKey, tuple[int, int, int]]]:
        """The ``n`` sessions with the most prompt tokens: ``(key, (requests, tokens, shared))`` each."""
        return [(key, totals) for key, totals, _ in self.ranked(n)]

    def ranked(self, n: int) -> list[tuple[SessionKey, tuple[int, int, int], tuple[float, int]]]:
        """`top`, with each session's first request's (start, line) as `add` was given it: what a merge of
        several replays' top sessions ranks ties by (`cachepoint.core.analyze.tally.SessionTally`)."""
        if self._db is None:
            ranked = sorted(self._memory.items(), key=lambda kv: (-kv[1][1], kv[0][3], kv[1][3]))[:n]
            return [(key, (v[0], v[1], v[2]), (v[4], v[5])) for key, v in ranked]
        self._write(list(self._memory))
        # SQLite compares TEXT as UTF-8 bytes, which orders strings as Python does (by code point).
        rows = self._db.execute(
            "SELECT provider, tenant, model, session, requests, tokens, shared, started_at, started_line FROM sessions "
            "ORDER BY tokens DESC, session, first LIMIT ?",
            (n,),
        ).fetchall()
        return [((r[0], r[1], r[2], r[3]), (r[4], r[5], r[6]), (r[7], r[8])) for r in rows]

    def close(self) -> None:
        """Delete the database."""
        if self._db is not None:
            self._db.close()
            self._db = None
