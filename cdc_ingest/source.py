"""The DB-API boundary to the system of record: its catalog, its capture tables, its rows.

`open_source(settings)` connects to the configured source (the simulated Db2 SQLite file, or a
real Db2 for z/OS through ibm_db_dbi) and returns a `Source`. The same queries
(`sql/source.sql`) read both; `cdc_ingest.dialect` fills in what differs.

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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cdc_ingest.capture_rows import (
    UOW_END,
    ChangeBatch,
    ChangeBuilder,
    Picked,
    Position,
    build_batch,
    tagged,
)
from cdc_ingest.catalog import CatalogError, Column, Db2Type, Table
from cdc_ingest.connection import (
    SourceConfigError,
    SourceError,
    SourceUnavailable,
    connect_db2,
    connect_sqlite,
    parse_dsn,
    read_sql_file,
)
from cdc_ingest.dialect import SQLITE, Dialect, RowReader, db2_dialect, quote, type_of_coltype
from config import Settings

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
class Registration:
    """A captured table (a row of IBMSNAP_REGISTER): the source table and its CD table.

    Attributes:
        table: SCHEMA.TABLE.
        cd_table: its CD table, quoted and qualified.
        before_prefix: prefix of the before-image columns, or None.
        needs_snapshot: its capture history does not reproduce its rows: it held rows when
            it was registered, or its CD table was pruned past the registration (ASN's
            CD_OLD_SYNCHPOINT beyond SYNCHPOINT). Capture then starts it with a snapshot.
    """

    table: str
    cd_table: str
    before_prefix: str | None
    needs_snapshot: bool = False


@dataclass(frozen=True, slots=True)
class UowHeader:
    """A committed unit of work without its rows: id, commit time, row count per table."""

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
    schema = settings.source.schema_name
    if settings.source.kind == "db2":
        dialect = db2_dialect(settings.source.capture_schema)
        return Source(connect_db2(settings), dialect, schema)
    conn = connect_sqlite(settings.sor_path, schema, settings.source.busy_timeout_ms)
    return Source(conn, SQLITE, schema)


class Source:
    """Reads the catalog, the ASN control and CD tables, and table rows of one schema.

    Args:
        conn: a DB-API connection (sqlite3 in autocommit mode, or ibm_db_dbi).
        dialect: how this system of record differs (see `cdc_ingest.dialect`).
        schema: the source schema (Db2 creator) of the captured tables.
    """

    def __init__(self, conn: Any, dialect: Dialect, schema: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.schema = schema
        self._readers: dict[tuple[Column, ...], RowReader] = {}
        queries = read_sql_file(SQL_DIR / "source.sql")
        self._sql = {
            name: text.replace("{catalog}", dialect.catalog(schema)).replace(
                "{control}", dialect.control(schema)
            )
            for name, text in queries.items()
        }

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
        except Exception as exc:
            raise SourceError(f"query on {self.schema} failed: {exc}\n  {sql}") from exc
        finally:
            cur.close()

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Run the enclosed reads against one consistent state of the source."""
        begin = self.dialect.begin_read
        if begin:
            self.conn.execute(begin)
        try:
            yield
        finally:
            if begin:
                self.conn.execute("COMMIT")
            else:
                self.conn.commit()

    def table_names(self) -> list[str]:
        """Names (upper case, unqualified) of every table of the source schema."""
        return [row[0].strip() for row in self._rows(self._sql["tables"], (self.schema,))]

    def table(self, name: str) -> Table:
        """The catalog entry of table `name` (unqualified, or SCHEMA.NAME of this schema).

        Raises:
            SourceError: the table is not in the catalog, or has a type the gateway cannot carry.
        """
        bare = name.upper().removeprefix(self.schema + ".")
        rows = self._rows(self._sql["columns"], (self.schema, bare))
        if not rows:
            raise SourceError(f"table {self.schema}.{bare} is not in the catalog")
        columns, keys = [], []
        for col_name, _no, coltype, length, scale, nulls, default, keyseq in rows:
            kind = type_of_coltype(coltype, int(length))
            if kind is None:
                raise SourceError(
                    f"table {self.schema}.{bare} column {col_name.strip()}: Db2 type "
                    f"{coltype.strip()}({length}) is not carried by the gateway"
                )
            carries_length = kind in (Db2Type.CHAR, Db2Type.VARCHAR, Db2Type.DECIMAL)
            columns.append(
                Column(
                    name=col_name.strip(),
                    type=kind,
                    length=int(length) if carries_length else None,
                    scale=int(scale) if kind is Db2Type.DECIMAL else None,
                    nullable=str(nulls).strip() == "Y",
                    default=default,
                )
            )
            if keyseq:
                keys.append((int(keyseq), col_name.strip()))
        return Table(self.schema, bare, tuple(columns), tuple(name for _, name in sorted(keys)))

    def registrations(self) -> list[Registration]:
        """The captured tables of this schema (active rows of IBMSNAP_REGISTER)."""
        lsn = self.dialect.lsn_from_db
        return [
            Registration(
                table=f"{owner.strip()}.{name.strip()}",
                cd_table=f"{quote(cd_owner.strip())}.{quote(cd_name.strip())}",
                before_prefix=prefix.strip() if prefix else None,
                needs_snapshot=bool(rows) or lsn(old) > lsn(synch),
            )
            for owner, name, cd_owner, cd_name, prefix, synch, old, rows in self._rows(
                self._sql["registered"], (self.schema,)
            )
        ]

    def newest_lsn(self) -> int:
        """The newest committed LSN (0 when nothing has committed yet)."""
        return self.dialect.lsn_from_db(self._rows(self._sql["newest_lsn"])[0][0])

    def uow_header(self, lsn: int) -> UowHeader | None:
        """The committed unit of work `lsn` with its row count per captured table, or None."""
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
        return UowHeader(lsn, _uow_id(uow_id), commit_time, counts)  # type: ignore[arg-type]

    def read_changes(
        self, after: Position, max_rows: int, tables: Sequence[str] | None = None
    ) -> ChangeBatch:
        """Committed row changes after `after`, in commit order, at most `max_rows` rows.

        Args:
            after: the last row already consumed (Position(0, 0) to start at the beginning).
            max_rows: the most rows to return (>= 1).
            tables: SCHEMA.TABLE names to read; default every captured table.

        Raises:
            SourceError: a named table is not captured, or a query fails.
        """
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        with self.read_transaction():
            regs = self._wanted(tables)
            newest = self.newest_lsn()
            catalog = {reg.table: self.table(reg.table) for reg in regs}
            cursors = [
                self._cd_cursor(reg, catalog[reg.table], after, newest, max_rows + 1)
                for reg in regs
            ]
            try:
                # Each CD table is read in (LSN, INTENTSEQ) order and lazily: the merge pulls
                # only the rows it needs (max_rows + 1 of all tables), converting none yet.
                streams = [tagged(i, cursor) for i, cursor in enumerate(cursors)]
                picked = list(itertools.islice(heapq.merge(*streams), max_rows + 1))
            finally:
                for cursor in cursors:
                    cursor.close()
            headers = self._headers(picked)
        plans = [(catalog[reg.table], bool(reg.before_prefix)) for reg in regs]
        convert = ChangeBuilder(self.dialect, plans, self._readers)
        return build_batch(
            picked,
            convert,
            headers=headers,
            after=after,
            newest=newest,
            max_rows=max_rows,
            catalog=catalog,
        )

    def _wanted(self, tables: Sequence[str] | None) -> list[Registration]:
        regs = self.registrations()
        if tables is None:
            return regs
        by_name = {reg.table: reg for reg in regs}
        missing = [t for t in tables if t.upper() not in by_name]
        if missing:
            raise SourceError(f"table {missing[0].upper()} is not captured (not registered)")
        return [by_name[t.upper()] for t in tables]

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
                _uow_id(uow_id),
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
                .replace("{table}", f"{quote(self.schema)}.{quote(table.name)}")
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


def _uow_id(raw: object) -> str:
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).hex().upper()
    return str(raw).strip()


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
