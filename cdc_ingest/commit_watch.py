"""Idle capture: notice a new commit on the system of record promptly, without polling it hard.

When a step of capture finds nothing to publish, the coordinator waits before the next one.
The longest wait is `capture.poll_interval_ms`. Where the system of record offers a cheap
change check (the simulated Db2: SQLite's data_version, see `db2.dialect.Dialect.commit_check`),
the wait asks it every `Dialect.commit_check_s` (a few milliseconds) whether anything
committed since the token taken before the step read, and ends as soon as something did. On a
real Db2 the check would cost a round trip to the mainframe each time, so capture polls every
poll interval there, as it always did.
"""

from __future__ import annotations

import threading
import time

from db2.catalog_reader import SystemCatalog


class CommitWatch:
    """Waits, while capture is idle, for the next commit on the source.

    Args:
        longest_wait_s: the longest wait (`capture.poll_interval_ms`, in seconds).
    """

    def __init__(self, longest_wait_s: float) -> None:
        self._longest_s = longest_wait_s
        self._source: SystemCatalog | None = None
        self._token: int | None = None

    def mark(self, source: SystemCatalog) -> None:
        """Take `source`'s change token; call it before a step reads, so that a commit after
        the read (which the read missed) ends the next wait.

        Raises:
            SourceError: the change check failed.
        """
        if source.dialect.commit_check_s is None:
            self._source, self._token = None, None
            return
        self._token = source.change_token()
        self._source = source

    def wait(self, source: SystemCatalog | None, stop: threading.Event) -> None:
        """Wait until `source` committed something since `mark`, `stop` is set, or the
        longest wait has passed.

        Args:
            source: the source the next step reads (None: not connected); a source other
                than the one marked (a new connection) has no token to compare: plain wait.
            stop: ends the wait when set.

        Raises:
            SourceError: the change check failed.
        """
        check_s = None if source is None else source.dialect.commit_check_s
        if source is None or source is not self._source or check_s is None:
            stop.wait(self._longest_s)
            return
        deadline = time.monotonic() + self._longest_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(check_s, left)):
                return
            if source.change_token() != self._token:
                return
