"""The DuckDB database as the API uses it: opened read-only, locked down, its watermark row.

After the writer has opened the database, `lock_down` turns off external access (files, URLs,
ATTACH) and extension auto-install/auto-load, sets memory_limit and threads, then sets
lock_configuration so no later statement can undo any of it. These settings are database-wide:
the writer must make its own SETs before, and must hand Arrow data to DuckDB with `register()`
(Python replacement scans are off without external access).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from event_contract.watermark import Watermark
from query_api.errors import StoreUnavailable

logger = logging.getLogger(__name__)

_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*[KMGT]i?B$")
# The projection keeps one watermark row; the newest is picked in Python, because a
# `ORDER BY lsn DESC LIMIT 1` in DuckDB costs about four times this plain scan.
_WATERMARK_SQL = "SELECT lsn, commit_time FROM _offload.watermark"
EMPTY_WATERMARK = Watermark(0, None)


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
