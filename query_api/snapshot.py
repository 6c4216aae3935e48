"""One consistent snapshot per answer, and the one local implementation over a DuckDB cursor.

Every answer of the API reads one `Snapshot`: the committed state of the read models at one
watermark, never half of a batch. Its queries return Arrow tables, so the same answer can be
computed in the process that owns the database (`LocalSnapshot`, a cursor inside one
read-only transaction) or in a serving worker that reaches that process over Arrow Flight
(`query_api.remote_store`), and be rendered by the same code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from event_contract.watermark import Watermark
from query_api.database import read_watermark
from query_api.errors import ModelsNotReady, SqlFailed, SqlTimeout, TooManyQueries

logger = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any] | None
_BATCH_ROWS = 2048


@dataclass(frozen=True, slots=True)
class SqlLimits:
    """Bounds of one analyst query."""

    row_cap: int = 10000
    timeout_s: float = 10.0
    max_concurrent_per_key: int = 2


class AnalystSlots:
    """How many analyst queries each API key runs at once on one database (all workers)."""

    def __init__(self) -> None:
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key_name: str, limit: int) -> Iterator[None]:
        """Take one of the key's `limit` slots for the block.

        Raises:
            TooManyQueries: the key already runs `limit` queries.
        """
        with self._lock:
            slot = self._slots.setdefault(key_name, threading.BoundedSemaphore(limit))
        if not slot.acquire(blocking=False):
            raise TooManyQueries(key_name, limit)
        try:
            yield
        finally:
            slot.release()


class Snapshot(Protocol):
    """The read models at one committed watermark."""

    @property
    def watermark(self) -> Watermark:
        """The watermark every query of this snapshot sees."""
        ...

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Every row of one trusted statement (a named query).

        Raises:
            ModelsNotReady: it reads a table the writer has not created yet.
        """
        ...

    def query_capped(
        self, sql: str, params: Params, limits: SqlLimits, key_name: str
    ) -> tuple[pa.Table, bool]:
        """At most `limits.row_cap` rows of an analyst's statement, and whether more existed.

        Raises:
            SqlFailed: DuckDB could not run it.
            SqlTimeout: it ran over `limits.timeout_s` and was interrupted.
            TooManyQueries: the key already runs its maximum of queries.
        """
        ...


class LocalSnapshot:
    """A `Snapshot` on a DuckDB cursor inside one read-only transaction."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, slots: AnalystSlots) -> None:
        self._cursor = cursor
        self._slots = slots
        self._watermark = read_watermark(cursor)

    @property
    def watermark(self) -> Watermark:
        """The watermark the transaction sees."""
        return self._watermark

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Every row of `sql` as an Arrow table.

        Raises:
            ModelsNotReady: it reads a table the writer has not created yet.
        """
        try:
            return self._cursor.sql(sql, params=params).to_arrow_table()
        except duckdb.CatalogException as exc:
            raise ModelsNotReady(str(exc).strip()) from exc

    def query_capped(
        self, sql: str, params: Params, limits: SqlLimits, key_name: str
    ) -> tuple[pa.Table, bool]:
        """Stream at most cap + 1 rows on a worker thread; interrupt it past the time limit.

        DuckDB has no statement timeout: past the limit `cursor.interrupt()` stops the query.
        The extra row only tells that more existed, so `SELECT * FROM range(1e9)` costs one
        batch, not a billion rows.
        """
        with self._slots.hold(key_name, limits.max_concurrent_per_key):
            return self._bounded(sql, params, limits.row_cap, limits.timeout_s)

    def _bounded(
        self, sql: str, params: Params, cap: int, timeout_s: float
    ) -> tuple[pa.Table, bool]:
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = _fetch_capped(self._cursor, sql, params, cap)
            except BaseException as exc:  # re-raised in the caller below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="offload-sql", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            self._cursor.interrupt()
            worker.join()
            logger.info("SQL interrupted after %.1f s: %.200s", timeout_s, sql)
            raise SqlTimeout(timeout_s)
        error = outcome.get("error")
        if isinstance(error, duckdb.Error):
            raise SqlFailed(str(error).strip()) from error
        if error is not None:
            raise error
        result: tuple[pa.Table, bool] = outcome["result"]
        return result


@contextmanager
def local_snapshot(
    connection: duckdb.DuckDBPyConnection, slots: AnalystSlots
) -> Iterator[LocalSnapshot]:
    """Open a read-only transaction on a new cursor of `connection`; roll back and close it.

    A read-only transaction refuses any write (even `nextval`), whatever the statement.
    """
    cursor = connection.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            yield LocalSnapshot(cursor, slots)
        finally:
            # An interrupted or failed query may have ended the transaction already.
            with suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
    finally:
        cursor.close()


def _fetch_capped(
    cursor: duckdb.DuckDBPyConnection, statement: str, params: Params, cap: int
) -> tuple[pa.Table, bool]:
    relation = cursor.sql(statement, params=params)
    reader = relation.to_arrow_reader(min(cap + 1, _BATCH_ROWS))
    batches: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        batches.append(batch)
        count += batch.num_rows
        if count > cap:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    reader.close()
    return table.slice(0, cap), count > cap
