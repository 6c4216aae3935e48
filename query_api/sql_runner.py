"""Runs gated analyst SQL on one snapshot, with a row cap, a time limit and per-key slots.

DuckDB has no statement timeout: the query runs in a worker thread and, past the limit,
`cursor.interrupt()` stops it. At most `row_cap + 1` rows are ever fetched (an Arrow record
batch reader streams them), so `SELECT * FROM range(1000000000)` costs one batch, not a
billion rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from event_contract.watermark import Watermark
from query_api.errors import SqlFailed, SqlTimeout, TooManyQueries
from query_api.snapshot import open_snapshot
from query_api.sql_gate import SqlGate
from query_api.store import ReadStore

logger = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any] | None
_BATCH_ROWS = 2048


@dataclass(frozen=True, slots=True)
class SqlLimits:
    """Bounds of one analyst query."""

    row_cap: int = 10000
    timeout_s: float = 10.0
    max_concurrent_per_key: int = 2


@dataclass(frozen=True, slots=True)
class SqlResult:
    """At most `row_cap` rows, whether more existed, and the snapshot's watermark."""

    table: pa.Table
    truncated: bool
    watermark: Watermark


class SqlRunner:
    """Gate, then run on a fresh read-only snapshot, within the limits."""

    def __init__(self, store: ReadStore, gate: SqlGate, limits: SqlLimits) -> None:
        self._store = store
        self._gate = gate
        self._limits = limits
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def run(self, key_name: str, sql: str, params: Params = None) -> SqlResult:
        """Run `sql` for the key `key_name`.

        Raises:
            SqlRefused: the gate refused the statement.
            SqlFailed: DuckDB could not run it.
            SqlTimeout: it ran over the time limit and was interrupted.
            TooManyQueries: the key already runs its maximum of queries.
        """
        statement = self._gate.check(sql)
        with self._slot(key_name), open_snapshot(self._store) as snapshot:
            table, truncated = self._run_bounded(snapshot.cursor, statement, params)
            return SqlResult(table, truncated, snapshot.watermark)

    @contextmanager
    def _slot(self, key_name: str) -> Iterator[None]:
        with self._slots_lock:
            slot = self._slots.setdefault(
                key_name, threading.BoundedSemaphore(self._limits.max_concurrent_per_key)
            )
        if not slot.acquire(blocking=False):
            raise TooManyQueries(key_name, self._limits.max_concurrent_per_key)
        try:
            yield
        finally:
            slot.release()

    def _run_bounded(
        self, cursor: duckdb.DuckDBPyConnection, statement: str, params: Params
    ) -> tuple[pa.Table, bool]:
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = _fetch_capped(cursor, statement, params, self._limits.row_cap)
            except BaseException as exc:  # re-raised in the caller below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="offload-sql", daemon=True)
        worker.start()
        worker.join(self._limits.timeout_s)
        if worker.is_alive():
            cursor.interrupt()
            worker.join()
            logger.info("SQL interrupted after %.1f s: %.200s", self._limits.timeout_s, statement)
            raise SqlTimeout(self._limits.timeout_s)
        error = outcome.get("error")
        if isinstance(error, duckdb.Error):
            raise SqlFailed(str(error).strip()) from error
        if error is not None:
            raise error
        result: tuple[pa.Table, bool] = outcome["result"]
        return result


def _fetch_capped(
    cursor: duckdb.DuckDBPyConnection, statement: str, params: Params, cap: int
) -> tuple[pa.Table, bool]:
    """Stream at most cap + 1 rows; the extra row only tells that more existed."""
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
