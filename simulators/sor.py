"""The simulated Db2 system of record: one SQLite file, units of work, capture, catalog.

Protocol of a unit of work (any writer that follows it is captured):
BEGIN IMMEDIATE; allocate the next LSN and UOW id in IBMSNAP_UOW; open IBMSNAP_OPEN_UOW;
write (the capture triggers add CD rows numbered 1, 2, ...); set IBMSNAP_LOGMARKER to the
commit time (UTC, microseconds); close IBMSNAP_OPEN_UOW; COMMIT. Writers are serialised by
SQLite's write lock, so LSNs increase strictly in commit order. An exception rolls everything
back, the LSN included; a killed process leaves nothing (SQLite discards the open transaction).
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
from db2.dialect import COLTYPES, SQLITE, quote
from db2.errors import SourceError
from event_contract.catalog import Column, Db2Type, Table
from plumbing.sqlfiles import read_sections
from simulators import storage
from simulators.ddl import (
    AddColumn,
    CreateTable,
    DropTable,
    Statement,
    is_ddl,
    parse_statement,
    split_statements,
)
from simulators.errors import Db2SqlError, DdlError, StatementError

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
            target = f"{quote(table.schema)}.{quote(table.name)}"
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
        sql = f"UPDATE {quote(table.schema)}.{quote(table.name)} SET {sets} WHERE {_where(key)}"  # noqa: S608
        params = [SQLITE.value_to_db(table.column(n), v) for n, v in values.items()]
        return self._change(table, "U", sql, params + _key_params(table, key))

    def delete(self, table: Table, key: Mapping[str, object]) -> int:
        """Delete the row with primary key `key`; returns the number of rows deleted."""
        sql = f"DELETE FROM {quote(table.schema)}.{quote(table.name)} WHERE {_where(key)}"  # noqa: S608
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


class SystemOfRecord:
    """The simulated Db2: open it, run units of work, manage tables and their capture.

    Args:
        conn: a connection from `db2.connection.connect_sqlite`.
        schema: the Db2 schema, which is also the attached database's name.
    """

    def __init__(self, conn: sqlite3.Connection, schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self._sql = {
            name: text.replace("{schema}", quote(schema))
            for name, text in read_sections(SQL_DIR / "control.sql").items()
        }
        self._source = SystemCatalog(conn, SQLITE, schema)
        self._tables: dict[str, Table] = {}
        self._db2: Db2Sql | None = None

    @classmethod
    def open(
        cls, path: Path, schema: str = "SHIPPING", busy_timeout_ms: int = 10_000
    ) -> SystemOfRecord:
        """Open (creating if needed) the file and its control tables."""
        sor = cls(connect_sqlite(path, schema, busy_timeout_ms, create=True), schema)
        sor.conn.executescript(sor._sql["control"])
        sor._upgrade_register()
        return sor

    def _upgrade_register(self) -> None:
        """Give an IBMSNAP_REGISTER made before the registration columns existed those columns."""
        have = {row[0] for row in self.conn.execute(self._sql["register_columns"], (self.schema,))}
        table = f"{quote(self.schema)}.IBMSNAP_REGISTER"
        for column, decl in _REGISTER_COLUMNS.items():
            if column not in have:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

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
            lsn, uow_id = conn.execute(self._sql["begin_uow"]).fetchone()
            conn.execute(self._sql["open_uow"], (lsn,))
            unit = Unit(self, lsn, uow_id)
            yield unit
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            conn.execute(self._sql["commit_uow"], (now, lsn))
            conn.execute(self._sql["close_uow"])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._tables.clear()  # DDL of the unit is undone too
            raise
        logger.debug("unit of work %s committed at LSN %d", uow_id, lsn)

    # --- catalog -------------------------------------------------------------------------

    def table(self, name: str) -> Table:
        """A table of the schema as the catalog declares it (cached until the next DDL)."""
        bare = name.upper().removeprefix(self.schema + ".")
        if bare not in self._tables:
            try:
                self._tables[bare] = self._source.table(bare)
            except SourceError as exc:
                raise DdlError(f"{self.schema}.{bare}", None, "does not exist") from exc
        return self._tables[bare]

    @property
    def db2(self) -> Db2Sql:
        """The Db2 SQL translator of this connection, with its SQLite functions registered."""
        if self._db2 is None:
            # Imported on first use: sqlglot takes ~0.2 s to import, and the workload and
            # the capture, which write and read through the helpers, never need it.
            from simulators.db2_functions import Runtime
            from simulators.db2_sql import Db2Sql

            self._db2 = Db2Sql(Runtime(self.conn), self._lookup)
        return self._db2

    def _lookup(self, schema: str | None, name: str) -> Table:
        """A table for Db2 SQL (schema None: the default schema); -204 when there is none."""
        if schema in (None, self.schema) and name in self.table_names():
            return self.table(name)
        undefined = f"{schema or self.schema}.{name} is an undefined name"
        raise Db2SqlError(undefined, -204, "42704")

    def table_names(self) -> list[str]:
        """Every table of the schema (unqualified names)."""
        return self._source.table_names()

    def captured(self) -> set[str]:
        """Unqualified names of the registered (captured) tables."""
        return {r.table.split(".", 1)[1] for r in self._source.registrations()}

    def newest_lsn(self) -> int:
        """The newest committed LSN."""
        return self._source.newest_lsn()

    # --- DDL and registration (run inside a unit of work) -------------------------------

    def apply_ddl(self, statement: Statement) -> None:
        """Apply parsed Db2 DDL: the SQLite table, the catalog rows and, if captured, capture."""
        if isinstance(statement, CreateTable):
            schema, name = statement.table.schema, statement.table.name
        else:
            schema, name = statement.schema, statement.table
        if schema != self.schema:
            raise DdlError(
                f"{schema}.{name}", None, f"the system of record's schema is {self.schema}"
            )
        self._tables.clear()
        if isinstance(statement, CreateTable):
            self._create(statement.table)
        elif isinstance(statement, AddColumn):
            self._add_column(self.table(statement.table), statement.column)
        elif isinstance(statement, DropTable):
            self._drop(self.table(statement.table))
        self._tables.clear()

    def _create(self, table: Table) -> None:
        if table.name in self.table_names():
            raise DdlError(table.qualified_name, None, "already exists")
        self.conn.execute(storage.create_table_sql(table))
        self.conn.execute(self._sql["add_table"], (self.schema, table.name, len(table.columns)))
        for number, column in enumerate(table.columns, start=1):
            self._catalog_column(table, column, number)

    def _catalog_column(self, table: Table, column: Column, number: int) -> None:
        keyseq = table.primary_key.index(column.name) + 1 if column.name in table.primary_key else 0
        length = column.length if column.length is not None else _FIXED_LENGTHS[column.type]
        self.conn.execute(
            self._sql["add_column"],
            (
                self.schema, table.name, column.name, number, COLTYPES[column.type], length,
                column.scale or 0, "Y" if column.nullable else "N", column.default, keyseq,
            ),
        )  # fmt: skip

    def _add_column(self, table: Table, column: Column) -> None:
        if any(c.name == column.name for c in table.columns):
            raise DdlError(table.qualified_name, column.name, "already exists")
        self.conn.execute(storage.add_column_sql(table, column))
        self._catalog_column(table, column, len(table.columns) + 1)
        self.conn.execute(self._sql["count_columns"], (self.schema, table.name))
        if table.name in self.captured():
            grown = Table(table.schema, table.name, (*table.columns, column), table.primary_key)
            for sql in storage.cd_add_column_sql(table, column):
                self.conn.execute(sql)
            self._replace_triggers(grown)

    def _drop(self, table: Table) -> None:
        if table.name in self.captured():
            self._drop_capture(table)
        self.conn.execute(f"DROP TABLE {quote(self.schema)}.{quote(table.name)}")
        self.conn.execute(self._sql["drop_table"], (self.schema, table.name))
        self.conn.execute(self._sql["drop_columns"], (self.schema, table.name))

    def _drop_capture(self, table: Table) -> None:
        for name in storage.trigger_names(table):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        cd = quote(storage.cd_table_name(table.name))
        self.conn.execute(f"DROP TABLE IF EXISTS {quote(self.schema)}.{cd}")
        self.conn.execute(self._sql["unregister"], (self.schema, table.name))

    def _replace_triggers(self, table: Table) -> None:
        for name in storage.trigger_names(table):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        for sql in storage.triggers_sql(table):
            self.conn.execute(sql)

    def register(self, name: str) -> bool:
        """Put a table under capture (CD table, triggers, IBMSNAP_REGISTER row), as ASN
        registration does. Returns False when it already was. Run inside a unit of work."""
        table = self.table(name)
        if table.name in self.captured():
            return False
        if not table.primary_key:
            raise DdlError(table.qualified_name, None, "needs a PRIMARY KEY to be captured")
        target = f"{quote(self.schema)}.{quote(table.name)}"
        rows = self.conn.execute(self._sql["count_rows"].replace("{table}", target)).fetchone()[0]
        self.conn.execute(storage.cd_table_sql(table))
        self._replace_triggers(table)
        cd = storage.cd_table_name(table.name)
        # The registering unit's LSN, and whether the table already held rows: then its
        # capture history does not reproduce it, and capture starts with a snapshot.
        self.conn.execute(self._sql["register"], (self.schema, table.name, self.schema, cd, rows))
        return True

    def run_script(self, unit: Unit, text: str) -> list[Result]:
        """Run Db2 SQL `text` in `unit` (see `simulators.script`); returns each statement's
        result. Every statement is checked before the first one runs."""
        from simulators.script import run_script  # with sqlglot, see `db2`

        assert unit.sor is self
        return run_script(self, text)

    def max_value(self, table: str, column: str) -> Any:
        """The largest stored value of a column (raw), or None for an empty table."""
        sql = self._sql["max_key"].replace("{column}", quote(column.upper()))
        sql = sql.replace("{table}", f"{quote(self.schema)}.{quote(table.upper())}")
        return self.conn.execute(sql).fetchone()[0]


_REGISTER_COLUMNS = {
    "SYNCHPOINT": "INTEGER",
    "CD_OLD_SYNCHPOINT": "INTEGER",
    "REGISTERED_ROWS": "INTEGER NOT NULL DEFAULT 0",
}
"""Columns of IBMSNAP_REGISTER added after its first version (see sql/control.sql)."""

_FIXED_LENGTHS = {
    Db2Type.SMALLINT: 2,
    Db2Type.INTEGER: 4,
    Db2Type.BIGINT: 8,
    Db2Type.DATE: 4,
    Db2Type.TIME: 3,
    Db2Type.TIMESTAMP: 10,
    Db2Type.DOUBLE: 8,
}
"""SYSCOLUMNS.LENGTH of the types that take no length, as Db2 for z/OS records them."""


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
