"""cachepoint core: async cache stores, a circuit breaker, a response cache, and provider prompt-cache control.

Import what you need from its module; this package does not re-export, so importing it stays cheap:

>>> from cachepoint.core.stores import MemoryStore
>>> from cachepoint.core.breaker import GuardedStore
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cachepoint-core")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
