"""cachepoint-crewai installs as a typed namespace package next to the other cachepoint distributions."""

from collections.abc import Callable


def test_installs_as_typed_namespace_package(check_distribution: Callable[[str, str], None]) -> None:
    check_distribution("cachepoint-crewai", "cachepoint.crewai")
