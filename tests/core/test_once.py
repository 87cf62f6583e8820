"""log_once: a problem is a warning the first time, debug afterwards; forget() makes it a warning again.

(Its docstring examples run in tests/core/test_docstrings.py, the one runner for core's examples.)"""

from __future__ import annotations

import logging

import pytest

from cachepoint.core import once


def test_first_time_is_a_warning_then_debug_and_forget_resets(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("cachepoint.test.once")
    with caplog.at_level(logging.DEBUG, logger="cachepoint.test.once"):
        assert once.log_once("unknown:x", "model x is unknown", logger=log)
        assert not once.log_once("unknown:x", "model x is unknown", logger=log)
        assert once.log_once("unknown:y", "model y is unknown", logger=log)
        once.forget("unknown:x")
        assert once.log_once("unknown:x", "model x is unknown", logger=log)
    assert [r.levelname for r in caplog.records] == ["WARNING", "DEBUG", "WARNING", "WARNING"]


def test_arguments_are_formatted_like_logging_does(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("cachepoint.test.once.args")
    with caplog.at_level(logging.DEBUG, logger="cachepoint.test.once.args"):
        once.log_once("args", "model %r is unknown (%d calls)", "x", 3, logger=log)
        once.log_once("plain", "100% sure", logger=log)  # no arguments: a '%' is just a character
    assert [r.getMessage() for r in caplog.records] == ["model 'x' is unknown (3 calls)", "100% sure"]
