"""The writer's commit signal: what readers in the writer's process wait on.

`CommitSignal` is notified by the writer after every committed batch (and whenever it sees a
newer published LSN). It is the query API's `CommitFeed` (a read-your-writes wait wakes at
the commit, the head is the newest published LSN), as the contract's `Watermark`, which both
packages import, so neither imports the other; the application hands it over.
"""

from __future__ import annotations

import threading
from datetime import datetime

from event_contract.watermark import Watermark
from projections.applier import ms_to_datetime


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

    def head(self) -> Watermark | None:
        """The newest LSN seen published, or None before one was seen."""
        if self.head_lsn is None:
            return None
        return Watermark(self.head_lsn, self.head_time)

    def wait_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until a commit notified here reaches `lsn`, or `timeout_s` passes.

        The committed LSN is compared under the condition's lock at each notice, so a waiting
        reader costs nothing between commits and never reads the database: the writer sets
        `lsn` from the watermark it has just committed. Returns whether `lsn` was reached.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.lsn >= lsn, max(timeout_s, 0.0))
