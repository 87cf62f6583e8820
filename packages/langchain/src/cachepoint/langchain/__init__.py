"""cachepoint for LangChain.

This adapter is a skeleton for now: its public API lands with the LangChain adapter issue. It is installed and
versioned with the rest of the workspace so the package layout is final.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cachepoint-langchain")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
