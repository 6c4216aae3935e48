"""The projection's DuckDB database: opening it, its bookkeeping, and reader cursors.

DuckDB allows one writing process per file, and readers in other processes cannot open it
while it is written. So the projection writer and the query API share ONE process and ONE
DuckDB database instance: the writer applies batches on its own connection; every reader
takes `connection.cursor()` (a separate connection to the same database) and sees MVCC
snapshots, so it never sees a partial batch or unit of work. The query API locks the
instance down (`enable_external_access=false`, no extension autoload, `lock_configuration`)
after the writer has opened it; the writer needs no external file access after start-up
(Arrow tables registered from Python still work with external access off).

Layout: mirrors `<schema>.<table>`, reference mirrors `reference.<name>`, derived views as
tables `views.<name>`, bookkeeping in schema `_offload` (`positions`, `watermark`,
`view_state`, `errors`, and per mirror the per-key version table `"keys.<schema>.<table>"`),
see `projections/sql/bookkeeping.sql`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from event_contract.watermark import Watermark
from projections.errors import DatabaseBusy
from projections.sqlfiles import script, statements

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppliedWatermark(Watermark):
    """The stored watermark (`lsn`, `commit_time`: naive UTC) with the bookkeeping beside it.

    Attributes:
        uow_lsn: the highest LSN of a source unit of work (not a snapshot chunk) applied.
        applied_at: when the last batch committed, naive UTC.
        units: units of work applied since the projection was created.
        events: change events applied (after the fold) since then.
    """

    uow_lsn: int
    applied_at: datetime | None
    units: int
    events: int


def open_database(path: Path | str, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the projection database and its bookkeeping tables.

    Args:
        path: the DuckDB file, or ":memory:" (tests, benchmarks).
        memory_limit: DuckDB's `memory_limit` ("512MB"); DuckDB's default (80% of RAM) if None.

    Returns:
        the writer's connection; readers use `.cursor()` on it.

    Raises:
        DatabaseBusy: another process holds the file.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        config: dict[str, str | bool | int | float | list[str]] = {}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        con = duckdb.connect(str(path), config=config)
    except duckdb.IOException as exc:
        raise DatabaseBusy(str(path), str(exc).splitlines()[0]) from exc
    con.execute(script("bookkeeping.sql"))
    logger.info("opened projection database %s", path)
    return con


def read_positions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], int]:
    """The stored next offset per (topic, partition)."""
    rows = con.execute(statements("positions.sql")["read_positions"]).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


def read_watermark(con: duckdb.DuckDBPyConnection) -> AppliedWatermark:
    """The stored watermark (a fresh projection's is all zeros)."""
    row = con.execute(statements("positions.sql")["read_watermark"]).fetchone()
    assert row is not None  # bookkeeping.sql inserts the one row
    lsn, commit_time, uow_lsn, applied_at, units, events = row
    return AppliedWatermark(
        int(lsn), commit_time, int(uow_lsn), applied_at, int(units), int(events)
    )


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection | None:
    """Open the projection database read-only; None when the file does not exist yet.

    Raises:
        DatabaseBusy: a writer process holds the file.
    """
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        raise DatabaseBusy(str(path), str(exc).splitlines()[0]) from exc
