"""What the bounded replay keeps on disk instead of in memory (both in temporary files, gone when closed).

- `PrintStore`: the fingerprint of every block seen (`BlockPrint`). The diagnosis reads the fingerprints of the
  requests it compares, which are recent ones; a block no kept request uses any more goes to a temporary SQLite
  database, read back only if a later request brings the block again. A worker describes a block once (its memo
  of blocks sent), so nothing seen may be forgotten: a fingerprint moves to disk, never away.
- `RowSpill`: per request, the numbers the report's timeline is drawn from (its start, its prompt tokens, every
  scenario's running cost, the charted scenarios' tokens read). Where the timeline samples and how wide its
  buckets are depend on the number of requests and the last start, known only at the end: the rows are
  written as they come and read back once, so the timeline is the one a replay of the whole trace in memory draws.

Values are stored as JSON text and float64 arrays: no pickle.
"""

from __future__ import annotations

import sqlite3
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from typing import IO

import orjson

from cachepoint.core.analyze.fingerprints import BlockPrint

__all__ = ["PrintStore", "RowSpill"]

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
        self.count = 0
        self._buffer = array("d")
        self._file: IO[bytes] | None = None

    def append(self, row: list[float]) -> None:
        """Add a row of ``width`` numbers."""
        self._buffer.extend(row)
        self.count += 1
        if len(self._buffer) >= _FLUSH * self.width:
            self._write()

    def _write(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open across calls, closed by `close`
        self._buffer.tofile(self._file)
        self._buffer = array("d")

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
