"""One consistent snapshot per answer: a cursor inside one read-only DuckDB transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import duckdb

from event_contract.watermark import Watermark
from query_api.store import ReadStore, read_watermark


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A cursor whose every query sees the same committed state, and that state's watermark."""

    cursor: duckdb.DuckDBPyConnection
    watermark: Watermark


@contextmanager
def open_snapshot(store: ReadStore) -> Iterator[Snapshot]:
    """Open a read-only transaction on a new cursor; roll it back and close on exit.

    A read-only transaction refuses any write (even `nextval`), whatever the statement.
    """
    cursor = store.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            yield Snapshot(cursor, read_watermark(cursor))
        finally:
            # An interrupted or failed query may have ended the transaction already.
            with suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
    finally:
        cursor.close()
