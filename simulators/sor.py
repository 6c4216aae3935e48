"""The simulated Db2 system of record: one SQLite file, units of work, capture, catalog.

Protocol of a unit of work (any writer that follows it is captured):
BEGIN IMMEDIATE; allocate the next LSN and UOW id in IBMSNAP_UOW; open IBMSNAP_OPEN_UOW;
write (the capture triggers add CD rows numbered 1, 2, ...); set IBMSNAP_LOGMARKER to the
commit time (UTC, microseconds); close IBMSNAP_OPEN_UOW; COMMIT. Writers are serialised by
SQLite's write lock, so LSNs increase strictly in commit order. An exception rolls everything
back, the LSN included; a killed process leaves nothing (SQLite discards the open transaction).

A subsystem holds any number of schemas, all in the one file (one SQLite transaction per unit
of work, whatever schemas it touches): the file is attached as its home schema
(`source.schema`), where the ASN control tables and the simulated catalog live too, and
`db2.dialect.sqlite_table` says where each Db2 table is kept. Sequences are written in the
file's CD-table flavor (`simulators.flavors`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db2.catalog_reader import SystemCatalog
from db2.connection import connect_sqlite
from db2.dialect import SQLITE, quote, stored_name
from db2.errors import SourceError
from event_contract.catalog import Table
from plumbing.sqlfiles import read_sections
from simulators import storage
from simulators.ddl import (
    CreateTable,
    is_ddl,
    parse_statement,
    split_statements,
)
from simulators.errors import Db2SqlError, DdlError, StatementError
from simulators.flavors import FLAVORS, Flavor, install_control
from simulators.sor_ddl import Definitions

if TYPE_CHECKING:
    from simulators.db2_sql import Db2Sql
    from simulators.script import Result

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).with_name("sql")
SHIPPING_DDL = SQL_DIR / "shipping.sql"


class Unit:
    """An open unit of work: write through it, it counts rows per table and operation.

    Attributes:
        lsn: the commit sequence this unit will commit with.
        uow_id: its IBMSNAP_UOWID.
        counts: rows written, (SCHEMA.TABLE, 'I'|'U'|'D') → count.
    """

    def __init__(self, sor: SystemOfRecord, lsn: int, uow_id: str) -> None:
        self.sor = sor
        self.lsn = lsn
        self.uow_id = uow_id
        self.counts: Counter[tuple[str, str]] = Counter()
        self._sql: dict[tuple[str, ...], str] = {}

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Run one statement as SQLite SQL on the stored forms (tools and tests; Db2 SQL goes
        through `SystemOfRecord.run_script`). Db2 DDL is parsed and applied to catalog and
        capture too."""
        if is_ddl(sql):
            self.sor.apply_ddl(parse_statement(sql, self.sor.schema))
            return self.sor.conn.cursor()
        try:
            return self.sor.conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise StatementError(sql.strip(), str(exc)) from exc

    def insert(self, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert rows (all with the same columns, Python values per `event_contract.catalog`)."""
        if not rows:
            return
        names = tuple(rows[0])
        cols = [table.column(n) for n in names]
        key = ("I", table.qualified_name, *names)
        sql = self._sql.get(key)
        if sql is None:
            # Identifiers come quoted from the catalog; every value is bound.
            target = self.sor.ref(table)
            marks = ", ".join("?" * len(names))
            cols_sql = ", ".join(quote(n) for n in names)
            sql = f"INSERT INTO {target} ({cols_sql}) VALUES ({marks})"  # noqa: S608
            self._sql[key] = sql
        params = [[SQLITE.value_to_db(c, row[c.name]) for c in cols] for row in rows]
        try:
            self.sor.conn.executemany(sql, params)
        except sqlite3.Error as exc:
            raise StatementError(sql, f"{table.qualified_name}: {exc}") from exc
        self.counts[(table.qualified_name, "I")] += len(rows)

    def update(self, table: Table, key: Mapping[str, object], values: Mapping[str, object]) -> int:
        """Update the row with primary key `key`; returns the number of rows changed."""
        sets = ", ".join(f"{quote(n)} = ?" for n in values)
        sql = f"UPDATE {self.sor.ref(table)} SET {sets} WHERE {_where(key)}"  # noqa: S608
        params = [SQLITE.value_to_db(table.column(n), v) for n, v in values.items()]
        return self._change(table, "U", sql, params + _key_params(table, key))

    def update_many(
        self,
        table: Table,
        keys: Sequence[Mapping[str, object]],
        values: Sequence[Mapping[str, object]],
    ) -> int:
        """Update many rows, each by primary key, in one prepared statement (a batch job's
        path: the same rows and capture rows as `update` once per row, in the same order).

        Args:
            table: the table.
            keys: each row's primary key; all with the same columns.
            values: each row's new values, paired with `keys`; all with the same columns.

        Returns:
            The number of rows changed.
        """
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys but {len(values)} value rows")
        if not keys:
            return 0
        key_cols = [table.column(n) for n in keys[0]]
        set_cols = [table.column(n) for n in values[0]]
        sets = ", ".join(f"{quote(c.name)} = ?" for c in set_cols)
        sql = f"UPDATE {self.sor.ref(table)} SET {sets} WHERE {_where(keys[0])}"  # noqa: S608
        to_db = SQLITE.value_to_db
        params = [
            [to_db(c, new[c.name]) for c in set_cols] + [to_db(c, key[c.name]) for c in key_cols]
            for key, new in zip(keys, values, strict=True)
        ]
        try:
            count = self.sor.conn.executemany(sql, params).rowcount
        except sqlite3.Error as exc:
            raise StatementError(sql, f"{table.qualified_name}: {exc}") from exc
        self.counts[(table.qualified_name, "U")] += count
        return count

    def delete(self, table: Table, key: Mapping[str, object]) -> int:
        """Delete the row with primary key `key`; returns the number of rows deleted."""
        sql = f"DELETE FROM {self.sor.ref(table)} WHERE {_where(key)}"  # noqa: S608
        return self._change(table, "D", sql, _key_params(table, key))

    def _change(self, table: Table, op: str, sql: str, params: list[object]) -> int:
        try:
            count = self.sor.conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise StatementError(sql, f"{table.qualified_name}: {exc}") from exc
        self.counts[(table.qualified_name, op)] += count
        return count


def _where(key: Mapping[str, object]) -> str:
    return " AND ".join(f"{quote(n)} = ?" for n in key)


def _key_params(table: Table, key: Mapping[str, object]) -> list[object]:
    return [SQLITE.value_to_db(table.column(n), v) for n, v in key.items()]


class SystemOfRecord(Definitions):
    """The simulated Db2: open it, run units of work, manage tables and their capture (DDL
    and registration: `simulators.sor_ddl.Definitions`).

    Args:
        conn: a connection from `db2.connection.connect_sqlite`.
        schema: the home schema: the attached database's name, where the control tables
            live, and the schema of unqualified table names.
        updates_as_delete_insert: register tables with ASN's CHG_UPD_TO_DEL_INS = 'Y' (each
            update captured as a `D` row and an `I` row).
    """

    def __init__(
        self, conn: sqlite3.Connection, schema: str, updates_as_delete_insert: bool = False
    ) -> None:
        self.conn = conn
        self.schema = schema
        self.updates_as_delete_insert = updates_as_delete_insert
        self.flavor: Flavor = FLAVORS["simulator"]
        self._sql = {
            name: text.replace("{schema}", quote(schema))
            for name, text in read_sections(SQL_DIR / "control.sql").items()
        }
        self._source = SystemCatalog(conn, SQLITE, schema)
        self._tables: dict[str, Table] = {}
        self._db2: Db2Sql | None = None

    @classmethod
    def open(
        cls,
        path: Path,
        schema: str = "SHIPPING",
        busy_timeout_ms: int = 10_000,
        *,
        flavor: str | None = None,
        updates_as_delete_insert: bool = False,
    ) -> SystemOfRecord:
        """Open (creating if needed) the file and its control tables.

        Args:
            path: the SQLite file.
            schema: the home schema (see the class).
            busy_timeout_ms: how long to wait for another writer's lock.
            flavor: the CD-table flavor of a new file (`simulators.flavors`); for an existing
                file, None or the flavor it was made with.
            updates_as_delete_insert: see the class.

        Raises:
            SourceConfigError: `flavor` differs from the existing file's.
        """
        conn = connect_sqlite(path, schema, busy_timeout_ms, create=True)
        sor = cls(conn, schema, updates_as_delete_insert)
        try:
            sor.flavor = install_control(conn, sor._sql, schema, flavor)
        except BaseException:
            conn.close()
            raise
        return sor

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> SystemOfRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[Unit]:
        """Open a unit of work; it commits when the block ends, rolls back on an exception."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            lsn, uow_id, stored = self._begin()
            conn.execute(self._sql["open_uow"], (stored,))
            unit = Unit(self, lsn, uow_id)
            yield unit
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            conn.execute(self._sql["commit_uow"], (now, stored))
            conn.execute(self._sql["close_uow"])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._tables.clear()  # DDL of the unit is undone too
            raise
        logger.debug("unit of work %s committed at LSN %d", uow_id, lsn)

    def _begin(self) -> tuple[int, str, object]:
        """Allocate the next unit of work: (LSN, UOW id as text, LSN as the flavor stores it)."""
        if self.flavor.lsn_bytes is None:
            lsn, uow_id = self.conn.execute(self._sql["begin_uow"]).fetchone()
            return lsn, uow_id, lsn
        newest = self.conn.execute(self._sql["newest_uow"]).fetchone()[0]
        lsn = SQLITE.lsn_from_db(newest) + 1
        stored, uow_id = self.flavor.position(lsn), self.flavor.uow_id(lsn)
        self.conn.execute(self._sql["begin_uow_binary"], (stored, uow_id))
        return lsn, f"{lsn:020X}", stored

    # --- catalog -------------------------------------------------------------------------

    def ref(self, table: Table) -> str:
        """Where Db2 table `table` is kept, quoted for SQLite (see `db2.dialect.sqlite_table`)."""
        return storage.ref(self.schema, table)

    def table(self, name: str) -> Table:
        """A table (SCHEMA.NAME, or NAME of the home schema) as the catalog declares it
        (cached until the next DDL)."""
        schema, bare = self._source.split(name)
        qualified = f"{schema}.{bare}"
        if qualified not in self._tables:
            try:
                self._tables[qualified] = self._source.table(qualified)
            except SourceError as exc:
                raise DdlError(qualified, None, "does not exist") from exc
        return self._tables[qualified]

    @property
    def db2(self) -> Db2Sql:
        """The Db2 SQL translator of this connection, with its SQLite functions registered."""
        if self._db2 is None:
            # Imported on first use: sqlglot takes ~0.2 s to import, and the workload and
            # the capture, which write and read through the helpers, never need it.
            from simulators.db2_functions import Runtime
            from simulators.db2_sql import Db2Sql

            self._db2 = Db2Sql(Runtime(self.conn), self._lookup)
            self._db2.storage = lambda schema, name: (
                self.schema,
                stored_name(self.schema, schema, name),
            )
        return self._db2

    def _lookup(self, schema: str | None, name: str) -> Table:
        """A table for Db2 SQL (schema None: the home schema); -204 when there is none."""
        owner = schema or self.schema
        if name in self.table_names(owner):
            return self.table(f"{owner}.{name}")
        raise Db2SqlError(f"{owner}.{name} is an undefined name", -204, "42704")

    def table_names(self, schema: str | None = None) -> list[str]:
        """Every table of `schema` (default: the home schema), unqualified."""
        return self._source.table_names(schema)

    def all_tables(self) -> list[str]:
        """Every table of every schema, as SCHEMA.TABLE."""
        return self._source.all_tables()

    def captured(self) -> set[str]:
        """Unqualified names of the registered (captured) tables of the home schema."""
        prefix = self.schema + "."
        return {t.removeprefix(prefix) for t in self.captured_tables() if t.startswith(prefix)}

    def captured_tables(self) -> set[str]:
        """The registered (captured) tables of every schema, as SCHEMA.TABLE."""
        return {r.table for r in self._source.registrations()}

    def newest_lsn(self) -> int:
        """The newest committed LSN."""
        return self._source.newest_lsn()

    def run_script(self, unit: Unit, text: str) -> list[Result]:
        """Run Db2 SQL `text` in `unit` (see `simulators.script`); returns each statement's
        result. Every statement is checked before the first one runs."""
        from simulators.script import run_script  # with sqlglot, see `db2`

        assert unit.sor is self
        return run_script(self, text)

    def max_value(self, table: str, column: str) -> Any:
        """The largest stored value of a column (raw), or None for an empty table."""
        sql = self._sql["max_key"].replace("{column}", quote(column.upper()))
        sql = sql.replace("{table}", self.ref(self.table(table)))
        return self.conn.execute(sql).fetchone()[0]


def install_shipping(sor: SystemOfRecord) -> list[str]:
    """Create and register the tables of `sql/shipping.sql` that do not exist yet, in one unit
    of work. Returns the names created."""
    created: list[str] = []
    existing = set(sor.table_names())
    todo = []
    for text in split_statements(SHIPPING_DDL.read_text(encoding="utf-8")):
        statement = parse_statement(text, sor.schema)
        if isinstance(statement, CreateTable) and statement.table.name not in existing:
            # The file names schema SHIPPING; a differently configured schema takes its place.
            todo.append(CreateTable(replace(statement.table, schema=sor.schema)))
    if not todo:
        return created
    with sor.unit_of_work():
        for statement in todo:
            sor.apply_ddl(statement)
            sor.register(statement.table.name)
            created.append(statement.table.name)
    return created
