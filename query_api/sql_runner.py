"""Runs gated analyst SQL on one snapshot, within a row cap, a time limit and per-key slots.

The gate (DuckDB's own parser) runs here, in whichever process serves the request; the bounded
run happens where the snapshot lives (`Snapshot.query_capped`: in this process, or in the
writer's process for a serving worker), so the per-key slots count every worker's queries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa

from event_contract.watermark import Watermark
from query_api.snapshot import Params, SqlLimits
from query_api.sql_gate import SqlGate
from query_api.store import ReadStore

logger = logging.getLogger(__name__)


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

    def run(self, key_name: str, sql: str, params: Params = None) -> SqlResult:
        """Run `sql` for the key `key_name`.

        Raises:
            SqlRefused: the gate refused the statement.
            SqlFailed: DuckDB could not run it.
            SqlTimeout: it ran over the time limit and was interrupted.
            TooManyQueries: the key already runs its maximum of queries.
        """
        statement = self._gate.check(sql)
        with self._store.snapshot() as snapshot:
            table, truncated = snapshot.query_capped(statement, params, self._limits, key_name)
            return SqlResult(table, truncated, snapshot.watermark)
