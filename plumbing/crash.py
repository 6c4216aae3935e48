"""Crash points for the kill -9 tests: SIGKILL this process the n-th time it passes a point.

One syntax for every part: `<point>[:<n>]`, several comma-separated, n a whole number from 1
(default 1), e.g. `cdc.after_produce:3` or `project.before_commit:2,project.mid_rebuild`.
Only the CLI entry points read it, from the environment variable `OFFLOAD_CRASH_AT`
(`CRASH_ENV`), and hand the hook `crash_hook(value)` down; library code only calls the hook
with a point name. Without the variable the hook does nothing.

Points, named `<part>.<moment>`: `cdc.after_produce` (events and position produced,
transaction not committed), `cdc.after_commit`, `cdc.mid_snapshot` (a snapshot chunk
committed, more to come); `project.mid_batch` (mirrors written, views not yet),
`project.before_commit`, `project.after_commit` (DuckDB committed, DLQ and readers not yet
told), `project.mid_rebuild` (fresh view table filled, not yet swapped in);
`reference.mid_produce`, `reference.after_produce`, `reference.after_commit`. A point that the
process never passes is ignored, so one value can be handed to every part.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from collections.abc import Callable, Mapping

from plumbing.errors import EXIT_USAGE, OffloadError, Terminal

logger = logging.getLogger(__name__)

CRASH_ENV = "OFFLOAD_CRASH_AT"
"""The environment variable the CLI entry points read the crash points from."""

CrashHook = Callable[[str], None]
"""Called with a point name each time the process passes that point."""


class CrashSpecError(OffloadError, Terminal):
    """The crash-point value does not follow `<point>[:<n>]`, comma-separated, n >= 1.

    Attributes:
        spec: the whole value.
        part: the comma-separated part at fault.
    """

    exit_code = EXIT_USAGE

    def __init__(self, spec: str, part: str) -> None:
        self.spec = spec
        self.part = part
        super().__init__(
            f"{CRASH_ENV}={spec}: {part!r} is not <point>[:<n>] with n a whole number >= 1"
        )


def no_crash(point: str) -> None:
    """The inert hook."""


class CrashPlan:
    """Kills this process with SIGKILL the n-th time it passes a planned point.

    Args:
        at: point name → the pass (counted from 1) at which to die.
    """

    def __init__(self, at: Mapping[str, int]) -> None:
        self.at = dict(at)
        self._passes: Counter[str] = Counter()

    @classmethod
    def parse(cls, spec: str) -> CrashPlan:
        """The plan written as `<point>[:<n>]`, comma-separated; "" plans nothing.

        Raises:
            CrashSpecError: a part does not follow the syntax.
        """
        at: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            point, colon, count = part.partition(":")
            if not point or (colon and not (count.isdigit() and int(count) >= 1)):
                raise CrashSpecError(spec, part)
            at[point] = int(count) if colon else 1
        return cls(at)

    def __call__(self, point: str) -> None:
        """Pass `point`: SIGKILL this process when it is the planned pass."""
        if point not in self.at:
            return
        self._passes[point] += 1
        if self._passes[point] == self.at[point]:
            logger.warning("crash point %s reached (pass %d): SIGKILL", point, self.at[point])
            os.kill(os.getpid(), signal.SIGKILL)


def crash_hook(spec: str | None) -> CrashHook:
    """The hook for `spec` (see the module docstring); the inert one for None or "".

    Raises:
        CrashSpecError: `spec` does not follow the syntax.
    """
    plan = CrashPlan.parse(spec or "")
    return plan if plan.at else no_crash
