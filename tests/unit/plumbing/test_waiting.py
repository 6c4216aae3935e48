"""`wait_for`: retries while the call raises a transient error, says once what it waits for."""

from __future__ import annotations

import logging
import threading

import pytest

from plumbing.errors import OffloadError, Terminal, Transient
from plumbing.waiting import wait_for

LOG = logging.getLogger("tests.waiting")


class _Down(OffloadError, Transient):
    pass


class _Broken(OffloadError, Terminal):
    pass


def test_waits_until_the_call_succeeds_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise _Down("broker down")
        return "up"

    with caplog.at_level(logging.INFO, logger="tests.waiting"):
        assert wait_for(flaky, "the broker", threading.Event(), LOG, max_delay_s=0.01) == "up"
    assert calls["n"] == 4
    lines = [r.getMessage() for r in caplog.records]
    assert [m for m in lines if m.startswith("waiting for the broker")] == [
        "waiting for the broker (broker down)"
    ]
    assert any(m.startswith("done waiting for the broker") for m in lines)


def test_a_terminal_error_is_raised_at_once() -> None:
    calls = {"n": 0}

    def broken() -> None:
        calls["n"] += 1
        raise _Broken("bad config")

    with pytest.raises(_Broken):
        wait_for(broken, "x", threading.Event(), LOG)
    assert calls["n"] == 1


def test_stop_ends_the_wait() -> None:
    stop = threading.Event()

    def down() -> None:
        stop.set()
        raise _Down("still down")

    assert wait_for(down, "x", stop, LOG) is None
