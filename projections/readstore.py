"""What the query API needs from the writer, without either package importing the other.

`CommitSignal` is notified by the writer after every committed batch (and whenever it sees a
newer published LSN); `ProjectionReadStore` satisfies the query API's `ReadStore` protocol
over the writer's DuckDB connection: cursors for readers, the committed watermark, a wait for
an LSN woken by the signal, and the newest published LSN, as the contract's `Watermark` (which
both packages import, so neither imports the other).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import duckdb

from event_contract.watermark import Watermark
from projections.applier import ms_to_datetime

_WATERMARK_SQL = "SELECT lsn, commit_time FROM _offload.watermark WHERE id = 1"


class CommitSignal:
    """A condition the writer notifies after each commit; readers wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.lsn = 0
        self.head_lsn: int | None = None
        self.head_time: datetime | None = None

    def committed(self, lsn: int) -> None:
        """A batch committed; the watermark is now `lsn`."""
        with self._cond:
            self.lsn = max(self.lsn, lsn)
            self._cond.notify_all()

    def published(self, lsn: int, commit_ms: int) -> None:
        """The source has published up to `lsn` (an END marker was read)."""
        with self._cond:
            if self.head_lsn is None or lsn > self.head_lsn:
                self.head_lsn = lsn
                self.head_time = ms_to_datetime(commit_ms)

    def wait(self, reached: Callable[[], bool], timeout_s: float) -> bool:
        """Block until `reached()` or `timeout_s` passes (re-checked every 50 ms too)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while not reached():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._cond:
                self._cond.wait(min(left, 0.05))
        return True


class ProjectionReadStore:
    """The query API's `ReadStore` over the writer's database.

    Args:
        con: the writer's connection (each reader gets its own cursor).
        signal: the writer's commit signal.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, signal: CommitSignal) -> None:
        self._con = con
        self._signal = signal

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared database (the caller closes it)."""
        return self._con.cursor()

    def watermark(self) -> Watermark:
        """The newest committed watermark."""
        return self._read()

    def wait_for_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until the watermark reaches `lsn` or `timeout_s` passes; True if reached."""
        return self._signal.wait(lambda: self._read().lsn >= lsn, timeout_s)

    def head(self) -> Watermark | None:
        """The newest LSN the writer saw published, or None before it saw one."""
        if self._signal.head_lsn is None:
            return None
        return Watermark(self._signal.head_lsn, self._signal.head_time)

    def _read(self) -> Watermark:
        with self._con.cursor() as cur:
            row = cur.execute(_WATERMARK_SQL).fetchone()
        return Watermark(0, None) if row is None else Watermark(int(row[0]), row[1])
