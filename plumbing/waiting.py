"""Waiting for something another part provides: a broker that is not up yet, a topic that
capture has not created yet.

Every long-running part starts in any order on a fresh deployment: instead of failing, it
waits, saying once (at INFO) what it waits for and once more when it has it, and retries with
a growing delay. `wait_for` retries a call while it raises a `Transient` error; `WaitNotice`
is the "say it once" part alone, for a loop that waits in its own way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from plumbing.errors import Transient

T = TypeVar("T")

_FIRST_DELAY_S = 0.2
_MAX_DELAY_S = 2.0


class WaitNotice:
    """Logs once that `log` waits for something, and once that the wait is over.

    Args:
        log: the caller's logger (the line names the caller's module).
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._what: str | None = None
        self._since = 0.0

    @property
    def waiting(self) -> bool:
        """Whether a wait was announced and is not over."""
        return self._what is not None

    def waiting_for(self, what: str, reason: str = "") -> None:
        """Announce the wait for `what` (only the first call of a wait logs)."""
        if self._what is not None:
            return
        self._what = what
        self._since = time.monotonic()
        suffix = f" ({reason})" if reason else ""
        self._log.info("waiting for %s%s", what, suffix)

    def done(self) -> None:
        """The wait is over: log how long it took (nothing when no wait was announced)."""
        if self._what is None:
            return
        self._log.info("done waiting for %s (%.1f s)", self._what, time.monotonic() - self._since)
        self._what = None


def wait_for(
    call: Callable[[], T],
    what: str,
    stop: threading.Event,
    log: logging.Logger,
    max_delay_s: float = _MAX_DELAY_S,
) -> T | None:
    """Call `call` until it returns without a `Transient` error, or `stop` is set.

    Args:
        call: what to try (it raises a `Transient` error while what it needs is not there).
        what: what is waited for, as the log line says it ("the Kafka broker at ...").
        stop: set it to give up (the caller is stopping).
        log: the caller's logger.
        max_delay_s: the longest pause between two tries.

    Returns:
        what `call` returned, or None when `stop` was set first.
    """
    notice = WaitNotice(log)
    delay = _FIRST_DELAY_S
    while not stop.is_set():
        try:
            result = call()
        except Exception as exc:
            if not isinstance(exc, Transient):
                raise
            notice.waiting_for(what, str(exc))
            log.debug("still waiting for %s: %s", what, exc)
            if stop.wait(delay):
                return None
            delay = min(delay * 2, max_delay_s)
            continue
        notice.done()
        return result
    return None
