"""Crash points: kill the process with SIGKILL at a named point (for crash tests only).

Inert unless the entry point parses a spec such as `project.before_commit:3` (die the third
time the point is reached) and hands the result down; the CLI reads it from the environment
variable OFFLOAD_CRASH_AT, library code never does. Points: `project.mid_batch` (mirrors written,
views not yet), `project.before_commit`, `project.after_commit` (DuckDB committed, DLQ and
readers not yet told), `project.mid_rebuild` (fresh view table filled, not yet swapped in).
Several specs may be given, comma-separated.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter

from projections.errors import ProjectionError

logger = logging.getLogger(__name__)


class CrashPoints:
    """Counts the points reached and kills the process at the configured hit.

    Args:
        spec: "point:n[,point:n...]"; empty for none.
    """

    def __init__(self, spec: str = "") -> None:
        self._at: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            point, _, count = part.rpartition(":")
            if not point or not count.isdigit() or int(count) < 1:
                raise ProjectionError(f"crash point {part!r}: expected POINT:N with N >= 1")
            self._at[point] = int(count)
        self._hits: Counter[str] = Counter()

    def __call__(self, point: str) -> None:
        """Reach `point`: SIGKILL this process when it is the configured hit."""
        if point not in self._at:
            return
        self._hits[point] += 1
        if self._hits[point] == self._at[point]:
            logger.warning("crash point %s reached (hit %d): SIGKILL", point, self._hits[point])
            os.kill(os.getpid(), signal.SIGKILL)
