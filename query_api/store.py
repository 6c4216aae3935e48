"""The read store the API serves from, as a small Protocol, and DuckDB's lock-down.

Decisions (see README, "Query API"):

- The projection writer and the query API share ONE process and ONE DuckDB database
  instance, because DuckDB lets one process write a file and forbids readers in other
  processes meanwhile. The entry point opens the database (projections), then hands the API
  an object satisfying `ReadStore`; query_api imports neither cdc_ingest nor projections.
- Every answer is computed on one cursor inside one read-only transaction, i.e. one MVCC
  snapshot: a batch the writer commits meanwhile is either wholly visible or not at all.
- After the writer has opened the database, `lock_down` turns off external access (files,
  URLs, ATTACH) and extension auto-install/auto-load, sets memory_limit and threads, then
  sets lock_configuration so no later statement can undo any of it. These settings are
  database-wide: the writer must make its own SETs before, and must hand Arrow data to
  DuckDB with `register()` (Python replacement scans are off without external access).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

from event_contract.watermark import Watermark
from query_api.errors import StoreUnavailable

logger = logging.getLogger(__name__)

_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*[KMGT]i?B$")
# The projection keeps one watermark row; the newest is picked in Python, because a
# `ORDER BY lsn DESC LIMIT 1` in DuckDB costs about four times this plain scan.
_WATERMARK_SQL = "SELECT lsn, commit_time FROM _offload.watermark"


EMPTY_WATERMARK = Watermark(0, None)


class ReadStore(Protocol):
    """What the API needs from the shared projection database."""

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared database (the caller closes it)."""
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


def read_watermark(cursor: duckdb.DuckDBPyConnection) -> Watermark:
    """The watermark as the cursor's transaction sees it (EMPTY_WATERMARK before any batch)."""
    try:
        rows = cursor.execute(_WATERMARK_SQL).fetchall()
    except duckdb.CatalogException:
        return EMPTY_WATERMARK
    if not rows:
        return EMPTY_WATERMARK
    lsn, commit_time = max(rows, key=lambda row: int(row[0]))
    return Watermark(int(lsn), commit_time)


@dataclass(frozen=True, slots=True)
class DuckDBLimits:
    """Database-wide limits applied by `lock_down`."""

    memory_limit: str = "1GB"
    threads: int = 2


def lock_down(connection: duckdb.DuckDBPyConnection, limits: DuckDBLimits) -> None:
    """Lock the database instance of `connection` for serving untrusted read-only SQL.

    Side effects: database-wide; afterwards no SET may change any option (the writer's too).
    """
    statements = (
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        f"SET threads = {int(limits.threads)}",
    )
    for statement in statements:
        connection.execute(statement)
    if not _MEMORY_RE.match(limits.memory_limit):
        raise ValueError(f"memory_limit {limits.memory_limit!r} is not like '1GB' or '512MiB'")
    connection.execute(f"SET memory_limit = '{limits.memory_limit}'")
    connection.execute("SET lock_configuration = true")
    logger.info(
        "DuckDB locked down: memory_limit=%s threads=%d", limits.memory_limit, limits.threads
    )


class DuckDBReadStore:
    """`ReadStore` over one DuckDB connection; the writer calls `notify_committed` per batch.

    `wait_for_lsn` is woken by `notify_committed` and also re-reads the watermark every
    `poll_s` seconds, so it stays correct with a writer that never notifies.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, poll_s: float = 0.05) -> None:
        self._connection = connection
        self._poll_s = poll_s
        self._changed = threading.Condition()
        self._head: Watermark | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared database."""
        return self._connection.cursor()

    def watermark(self) -> Watermark:
        """The newest committed watermark."""
        with self.cursor() as cursor:
            return read_watermark(cursor)

    def wait_for_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block until the watermark reaches `lsn` or `timeout_s` passes."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            if self.watermark().lsn >= lsn:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._changed:
                self._changed.wait(min(left, self._poll_s))

    def head(self) -> Watermark | None:
        """The newest published LSN the writer reported, if any."""
        return self._head

    def notify_committed(self, head: Watermark | None = None) -> None:
        """Called by the writer after each committed batch; wakes waiting readers."""
        if head is not None:
            self._head = head
        with self._changed:
            self._changed.notify_all()


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the projection file read-only (for the CLI when no writer holds it).

    Raises:
        StoreUnavailable: the file is missing, or another process holds it for writing.
    """
    if not path.exists():
        raise StoreUnavailable(path, "the file does not exist (run `offload project run` first)")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        raise StoreUnavailable(
            path, f"{exc} (a running writer holds it: use the HTTP API)"
        ) from exc
