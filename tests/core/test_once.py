"""log_once: a problem is a warning the first time, debug afterwards; forget() makes it a warning again."""

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
