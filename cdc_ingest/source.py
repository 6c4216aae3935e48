"""The capture reader: committed changes and table rows of the system of record, in commit order.

`open_source(settings)` connects to the configured source (the simulated Db2 SQLite file, or a
real Db2 for z/OS through ibm_db_dbi) and returns a `Source`, a `db2.SystemCatalog` that also
reads the CD tables and table rows. The same queries (`sql/capture.sql`) read both systems;
`db2.dialect` fills in what differs.

Reading changes: `Source.read_changes(after, max_rows)` returns committed row changes after a
`Position` in commit order (LSN, then IBMSNAP_INTENTSEQ), at most `max_rows` of them, grouped
into `UnitOfWork`s. A unit of work larger than `max_rows` comes in pieces: the batch says
whether its last unit is complete, `uow_header(lsn)` gives a unit's row count per table, and
the next read continues from `batch.position`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cdc_ingest.capture_rows import (
    LOOKAHEAD,
    UOW_END,
    ChangeBatch,
    ChangeBuilder,
    Picked,
    Position,
    build_batch,
    tagged,
    with_every_unit,
)
from config import Settings
from db2.catalog_reader import Registration, SystemCatalog, uow_id_text
from db2.connection import connect_source, connect_sqlite, parse_dsn
from db2.dialect import Dialect, RowReader, quote
from db2.errors import SourceConfigError, SourceError, SourceUnavailable
from event_contract.catalog import CatalogError, Column, Db2Type, Table

__all__ = [
    "UOW_END",
    "ChangeBatch",
    "Position",
    "Registration",
    "Source",
    "SourceConfigError",
    "SourceError",
    "SourceUnavailable",
    "TableChunk",
    "UowHeader",
    "connect_sqlite",
    "open_source",
    "parse_dsn",
]

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).with_name("sql")
_COMMIT_TIME = Column("IBMSNAP_LOGMARKER", Db2Type.TIMESTAMP)


@dataclass(frozen=True, slots=True)
class UowHeader:
    """A committed unit of work without its rows: id, commit time, CD rows per table (an update
    captured as a `D` + `I` pair counts two)."""

    lsn: int
    uow_id: str
    commit_time: datetime
    rows_by_table: Mapping[str, int]

    @property
    def total_rows(self) -> int:
        """Rows the unit of work changed in the captured tables."""
        return sum(self.rows_by_table.values())


@dataclass(frozen=True, slots=True)
class TableChunk:
    """Rows of a table in primary-key order, read in one transaction that saw LSN `lsn`.

    `last_key` continues the next chunk; `done` says the table holds no rows after it.
    """

    table: Table
    rows: tuple[Mapping[str, object], ...]
    lsn: int
    last_key: tuple[object, ...] | None
    done: bool


def open_source(settings: Settings) -> Source:
    """Connect to the configured system of record (`source.kind`). Close it when done."""
    conn, dialect = connect_source(settings)
    return Source(conn, dialect, settings.source.schema_name)


class Source(SystemCatalog):
    """Reads the captured changes and table rows of one schema, beside its catalog.

    Args:
        conn: a DB-API connection (sqlite3 in autocommit mode, or ibm_db_dbi).
        dialect: how this system of record differs (see `db2.dialect`).
        schema: the source schema (Db2 creator) of the captured tables.
    """

    def __init__(self, conn: Any, dialect: Dialect, schema: str) -> None:
        super().__init__(conn, dialect, schema, extra_sql=(SQL_DIR / "capture.sql",))
        self._readers: dict[tuple[Column, ...], RowReader] = {}

    def __enter__(self) -> Source:
        return self

    def uow_header(self, lsn: int) -> UowHeader | None:
        """The committed unit of work `lsn` with its row count per captured table, or None."""
        self.lsn_bytes  # noqa: B018 - the catalog's width, for binding the LSN
        with self.read_transaction():
            bound = self.dialect.lsn_to_db(lsn)
            rows = self._rows(self._sql["uow"], (bound, bound))
            if not rows:
                return None
            counts = {}
            for reg in self.registrations():
                sql = self._sql["uow_rows"].replace("{cd}", reg.cd_table)
                count = int(self._rows(sql, (bound,))[0][0])
                if count:
                    counts[reg.table] = count
        _, uow_id, marker = rows[0]
        commit_time = self.dialect.value_from_db(_COMMIT_TIME, marker)
        return UowHeader(lsn, uow_id_text(uow_id), commit_time, counts)  # type: ignore[arg-type]

    def read_changes(
        self,
        after: Position,
        max_rows: int,
        tables: Sequence[str] | None = None,
        bulk_rows: int | None = None,
        *,
        exclude: Collection[str] = (),
        every_unit: bool = False,
    ) -> ChangeBatch:
        """Committed row changes after `after`, in commit order, at most `max_rows` rows.

        Args:
            after: the last row already consumed (Position(0, 0) to start at the beginning).
            max_rows: the most rows to return (>= 1; one more when the last is the `D` of a
                `D` + `I` pair, see `capture_rows`).
            tables: tables to read: SCHEMA.TABLE, SCHEMA.* (every captured table of the
                schema) or *; default every captured table of every schema.
            bulk_rows: a unit of work with at least this many rows in the batch comes
                unconverted, as a `BulkUnit` (None: every unit is converted). The simulated
                Db2 only: the column path reads the values' stored text forms, where a real
                Db2's driver returns `Decimal`, `date` and `datetime` objects.
            exclude: tables (SCHEMA.TABLE) not to read, though `tables` names them.
            every_unit: also every unit of work with no rows in these tables, as a unit
                without changes (capture split by table group, `with_every_unit`); at most
                `max_rows` of them.

        Raises:
            SourceError: a table named exactly is not captured, or a query fails.
        """
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.lsn_bytes  # noqa: B018 - the catalog's width, for binding positions
        limit = max_rows + LOOKAHEAD
        with self.read_transaction():
            regs = [reg for reg in self._wanted(tables) if reg.table not in exclude]
            newest = self.newest_lsn()
            catalog = {reg.table: self.table(reg.table) for reg in regs}
            cursors = [
                self._cd_cursor(reg, catalog[reg.table], after, newest, limit) for reg in regs
            ]
            try:
                # Each CD table is read in (LSN, INTENTSEQ) order and lazily: the merge pulls
                # only the rows it needs (`limit` of all tables), converting none yet.
                streams = [tagged(i, cursor) for i, cursor in enumerate(cursors)]
                picked = list(itertools.islice(heapq.merge(*streams), limit))
            finally:
                for cursor in cursors:
                    cursor.close()
            headers = self._headers(picked)
            if every_unit:
                upper = self.dialect.lsn_from_db(picked[-1][0]) if len(picked) >= limit else newest
                units = self._units_after(after.lsn, upper, max_rows)
        plans = [
            (catalog[reg.table], bool(reg.before_prefix), reg.updates_as_delete_insert)
            for reg in regs
        ]
        convert = ChangeBuilder(self.dialect, plans, self._readers)
        batch = build_batch(
            picked,
            convert,
            headers=headers,
            after=after,
            newest=newest,
            max_rows=max_rows,
            catalog=catalog,
            bulk_rows=bulk_rows if self.dialect.kind == "sqlite" else None,
        )
        if not every_unit:
            return batch
        return with_every_unit(batch, after, units, cut=len(units) >= max_rows)

    def _units_after(self, lsn: int, upper: int, limit: int) -> list[tuple[int, str, datetime]]:
        """(LSN, id, commit time) of the first `limit` units of work after LSN `lsn`, up to
        `upper`."""
        d = self.dialect
        sql = self._sql["uow_after"].replace("{limit}", d.limit(limit))
        out = []
        for raw, uow_id, marker in self._rows(sql, (d.lsn_to_db(lsn), d.lsn_to_db(upper))):
            commit_time = d.value_from_db(_COMMIT_TIME, marker)
            assert isinstance(commit_time, datetime)  # a TIMESTAMP column's value
            out.append((d.lsn_from_db(raw), uow_id_text(uow_id), commit_time))
        return out

    def _wanted(self, tables: Sequence[str] | None) -> list[Registration]:
        regs = self.registrations()
        if tables is None:
            return regs
        wanted = [t.upper() for t in tables]
        by_name = {reg.table: reg for reg in regs}
        missing = [t for t in wanted if "*" not in t and t not in by_name]
        if missing:
            raise SourceError(f"table {missing[0]} is not captured (not registered)")
        return [reg for reg in regs if any(_matches(reg.table, t) for t in wanted)]

    def _cd_cursor(
        self, reg: Registration, table: Table, after: Position, newest: int, limit: int
    ) -> Any:
        names = [quote(c.name) for c in table.columns]
        if reg.before_prefix:
            names += [quote(reg.before_prefix + c.name) for c in table.columns]
        sql = (
            self._sql["changes"]
            .replace("{cd}", reg.cd_table)
            .replace("{columns}", ", ".join(names))
            .replace("{limit}", self.dialect.limit(limit))
        )
        d = self.dialect
        lsn, seq = d.lsn_to_db(after.lsn), d.lsn_to_db(after.seq)
        cur = self.conn.cursor()
        try:
            cur.execute(sql, (lsn, lsn, seq, d.lsn_to_db(newest)))
        except Exception as exc:
            cur.close()
            raise SourceError(f"query on {self.schema} failed: {exc}\n  {sql}") from exc
        return cur

    def _headers(self, picked: Sequence[Picked]) -> dict[int, tuple[str, Any]]:
        if not picked:
            return {}
        first, last = picked[0][0], picked[-1][0]
        return {
            self.dialect.lsn_from_db(lsn): (
                uow_id_text(uow_id),
                self.dialect.value_from_db(_COMMIT_TIME, marker),
            )
            for lsn, uow_id, marker in self._rows(self._sql["uow"], (first, last))
        }

    def read_chunk(
        self, name: str, after_key: Sequence[object] | None, max_rows: int
    ) -> TableChunk:
        """Up to `max_rows` rows of table `name` after primary key `after_key`, in key order.

        The rows and the returned LSN come from one read transaction: the chunk reflects every
        unit of work up to that LSN and none after it.
        """
        with self.read_transaction():
            table = self.table(name)
            if not table.primary_key:
                raise SourceError(f"table {table.qualified_name} has no primary key to chunk by")
            lsn = self.newest_lsn()
            where, params = _after_key_predicate(self.dialect, table, after_key)
            sql = (
                self._sql["chunk"]
                .replace("{columns}", ", ".join(quote(c.name) for c in table.columns))
                .replace("{table}", self.table_ref(table))
                .replace("{where}", where)
                .replace("{key}", ", ".join(quote(k) for k in table.primary_key))
                .replace("{limit}", self.dialect.limit(max_rows))
            )
            raw = self._rows(sql, params)
        read = self._readers.get(table.columns)
        if read is None:
            read = self._readers[table.columns] = self.dialect.row_reader(table.columns)
        rows = tuple(read(r, 0) for r in raw)
        last = tuple(rows[-1][k] for k in table.primary_key) if rows else None
        return TableChunk(table, rows, lsn, last, done=len(rows) < max_rows)


def _matches(table: str, pattern: str) -> bool:
    """Whether SCHEMA.TABLE `table` is named by `pattern`: *, SCHEMA.* or SCHEMA.TABLE."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return table.startswith(pattern[:-1])
    return table == pattern


def _after_key_predicate(
    dialect: Dialect, table: Table, after_key: Sequence[object] | None
) -> tuple[str, list[object]]:
    """WHERE clause for rows after `after_key` that a range scan on the key can serve."""
    if after_key is None:
        return "", []
    keys = table.key_columns
    if len(after_key) != len(keys):
        raise CatalogError(f"table {table.qualified_name}: key {after_key!r} has the wrong width")
    values = [dialect.value_to_db(col, v) for col, v in zip(keys, after_key, strict=True)]
    names = [quote(c.name) for c in keys]
    terms, params = [], []
    for i in range(len(keys)):
        equal = [f"{names[j]} = ?" for j in range(i)]
        terms.append("(" + " AND ".join([*equal, f"{names[i]} > ?"]) + ")")
        params += [*values[:i], values[i]]
    return f"WHERE {names[0]} >= ? AND ({' OR '.join(terms)})", [values[0], *params]
