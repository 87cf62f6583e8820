"""Operations a store cannot do at all (Memcached cannot list keys; a user's store may have no ``ttl``).

That is not a failure of the backend and not the caller's mistake, so it is neither an exception in a user's call
nor silent: each operation is logged as a WARNING the first time it is asked for, and every call is counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

__all__ = ["Unsupported"]


class Unsupported:
    """Per-store record of operations it could not do: one WARNING per operation, a count per call."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def report(self, owner: str, operation: str, reason: str, answer: str) -> None:
        """Count one call of ``operation``; on its first, log which store cannot do it, why, and the answer given."""
        with self._lock:
            self._counts[operation] += 1
            first = self._counts[operation] == 1
        if first:
            self._log.warning(
                "cachepoint: %s cannot do %s() (%s); answering %s. Logged once; every such call is counted",
                owner,
                operation,
                reason,
                answer,
            )

    @property
    def counts(self) -> dict[str, int]:
        """How many calls of each operation could not be done."""
        with self._lock:
            return dict(self._counts)
