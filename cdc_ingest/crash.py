"""Crash points for tests: kill the capture process at a chosen point, the n-th time it passes.

The CLI entry function reads `OFFLOAD_CRASH_AT=<point>[:<n>]` (e.g. `cdc.after_produce:3`) and
passes `crash_hook(value)` down; library code only calls the hook with a point name. Points:
`cdc.after_produce` (events and position produced, transaction not committed),
`cdc.after_commit` (transaction committed), `cdc.mid_snapshot` (a snapshot chunk committed,
more to come). Without the variable the hook does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

logger = logging.getLogger(__name__)

CrashHook = Callable[[str], None]
"""Called with a point name each time the process passes that point."""

CRASH_ENV = "OFFLOAD_CRASH_AT"


def no_crash(point: str) -> None:
    """The inert hook."""


def crash_hook(spec: str | None) -> CrashHook:
    """A hook that SIGKILLs this process the n-th time it reaches the point in `spec`.

    Args:
        spec: `<point>[:<n>]` (n defaults to 1), or None/empty for the inert hook.

    Raises:
        ValueError: n is not a positive whole number.
    """
    if not spec:
        return no_crash
    point, _, times = spec.partition(":")
    wanted = int(times) if times else 1
    if wanted < 1:
        raise ValueError(f"{CRASH_ENV}={spec}: the count must be at least 1")
    seen = 0

    def hook(reached: str) -> None:
        nonlocal seen
        if reached != point:
            return
        seen += 1
        if seen >= wanted:
            logger.warning("crash point %s reached (%d): killing the process", point, seen)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
