"""Say a thing once: the first time a given problem happens it is logged as a warning, later times at debug.

Adapters run inside other frameworks' calls, where a problem (an unknown model, a failing telemetry hook) can
repeat on every call; the log should say it once, with the reason, without going silent. The registry is per
process and thread-safe; it is the one every cachepoint package logs through.

>>> import logging
>>> logged = []
>>> class Keep(logging.Handler):
...     def emit(self, record): logged.append((record.levelname, record.getMessage()))
>>> log, keep = logging.getLogger("cachepoint.doctest.once"), Keep()
>>> log.addHandler(keep); log.setLevel(logging.DEBUG); log.propagate = False
>>> forget("demo")
>>> [log_once("demo", "model %r is unknown", "x", logger=log) for _ in range(2)]
[True, False]
>>> logged
[('WARNING', "model 'x' is unknown"), ('DEBUG', "model 'x' is unknown")]
>>> log.removeHandler(keep)
"""

from __future__ import annotations

import logging
import threading

__all__ = ["forget", "log_once"]

_lock = threading.Lock()
_said: set[tuple[str, str]] = set()


def log_once(key: str, message: str, *args: object, logger: logging.Logger, level: int = logging.WARNING) -> bool:
    """Log ``message`` at ``level`` the first time ``key`` comes up for ``logger``, at DEBUG afterwards.

    ``args`` are formatted into ``message`` the way `logging` does (``%s``), only if the record is emitted.
    Returns whether this was the first time.

    >>> forget("example:")
    >>> log = logging.getLogger("cachepoint.doctest.example")
    >>> log_once("example:x", "model %r is unknown", "x", logger=log), log_once("example:x", "again", logger=log)
    (True, False)
    """
    with _lock:
        first = (logger.name, key) not in _said
        _said.add((logger.name, key))
    if args:
        logger.log(level if first else logging.DEBUG, message, *args)
    else:
        logger.log(level if first else logging.DEBUG, "%s", message)
    return first


def forget(prefix: str = "") -> None:
    """Forget what was said (keys starting with ``prefix``), so it is said again: for tests and long-lived
    processes that want a fresh report.

    >>> forget()
    """
    with _lock:
        _said.difference_update({item for item in _said if item[1].startswith(prefix)})
