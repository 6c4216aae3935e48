"""The read store the API answers from, as a small Protocol, and its local implementation.

Decisions (see README, "Design decisions"):

- DuckDB lets one process write a file and forbids readers in other processes meanwhile, so
  the process that owns the database (the projection writer) is the only one that runs
  queries on it. Serving workers reach it over Arrow Flight (`query_api.read_server` in the
  writer, `query_api.remote_store` in each worker); both sides speak `ReadStore`.
- Every answer is computed on one `Snapshot`: one cursor inside one read-only transaction,
  i.e. one MVCC snapshot. A batch the writer commits meanwhile is either wholly visible or not
  at all.
- `DuckDBReadStore` is the local implementation over one DuckDB connection: the writer's
  (with the writer's commit feed, which wakes read-your-writes waits at once), or the file
  opened read-only by `offload query` and `offload serve --no-projection`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Protocol

import duckdb

from event_contract.watermark import Watermark
from query_api.database import read_watermark
from query_api.snapshot import AnalystSlots, Snapshot, local_snapshot


class ReadStore(Protocol):
    """What the API needs from the projection database."""

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """One consistent snapshot for a whole answer."""
        ...

    def watermark(self) -> Watermark:
        """The newest committed watermark."""
        ...

    def wait_for_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until the watermark reaches `lsn` or `timeout_s` passes; True if reached."""
        ...

    def head(self) -> Watermark | None:
        """The newest LSN known to be published by the source, or None if unknown."""
        ...


class CommitFeed(Protocol):
    """What a writer in the same process tells its readers (`projections`' CommitSignal)."""

    def wait_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until a commit reaches `lsn` or `timeout_s` passes; True if reached."""
        ...

    def head(self) -> Watermark | None:
        """The newest LSN the writer saw published, or None before it saw one."""
        ...


class DuckDBReadStore:
    """`ReadStore` over one DuckDB connection (each snapshot on a cursor of its own).

    Args:
        connection: the database (the writer's connection, or the file opened read-only).
        feed: the writer's commit feed when the writer runs in this process; without one,
            `wait_for_lsn` re-reads the watermark every `poll_s` seconds and `head` is None.
        poll_s: the re-read interval of `wait_for_lsn` without a feed.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        feed: CommitFeed | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self._connection = connection
        self._feed = feed
        self._poll_s = poll_s
        self._slots = AnalystSlots()

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A read-only transaction on a new cursor."""
        return local_snapshot(self._connection, self._slots)

    def watermark(self) -> Watermark:
        """The newest committed watermark."""
        with self._connection.cursor() as cursor:
            return read_watermark(cursor)

    def wait_for_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until the watermark reaches `lsn` or `timeout_s` passes."""
        if self._feed is not None:
            # The database is read once before the wait (the watermark may be there already)
            # and once after a timeout, never between: the feed wakes the wait at each commit.
            if self.watermark().lsn >= lsn:
                return True
            return self._feed.wait_lsn(lsn, timeout_s) or self.watermark().lsn >= lsn
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while self.watermark().lsn < lsn:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self._poll_s))
        return True

    def head(self) -> Watermark | None:
        """The newest published LSN the writer reported, if it runs in this process."""
        return None if self._feed is None else self._feed.head()
