"""DDL and registration of the simulated Db2 (`SystemOfRecord`'s part that changes tables).

CREATE SCHEMA, CREATE TABLE in any schema, ALTER TABLE ... ADD COLUMN and DROP TABLE change the
SQLite tables, the simulated catalog (SYSSCHEMATA, SYSTABLES, SYSCOLUMNS) and, for a captured
table, its CD table and capture triggers; `register` puts a table under capture as ASN
registration does. Every method runs inside the caller's unit of work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from db2.dialect import COLTYPES
from event_contract.catalog import Column, Db2Type, Table
from simulators import storage
from simulators.ddl import AddColumn, CreateSchema, CreateTable, DropTable, Statement
from simulators.errors import DdlError
from simulators.flavors import Flavor


class Definitions:
    """The DDL and registration methods of `simulators.sor.SystemOfRecord`."""

    conn: sqlite3.Connection
    schema: str
    flavor: Flavor
    updates_as_delete_insert: bool
    _sql: Mapping[str, str]
    _tables: dict[str, Table]

    def table(self, name: str) -> Table:  # pragma: no cover - SystemOfRecord's
        """A table by name (see `SystemOfRecord.table`)."""
        raise NotImplementedError

    def table_names(self, schema: str | None = None) -> list[str]:  # pragma: no cover
        """Table names of a schema (see `SystemOfRecord.table_names`)."""
        raise NotImplementedError

    def captured_tables(self) -> set[str]:  # pragma: no cover - SystemOfRecord's
        """Captured tables (see `SystemOfRecord.captured_tables`)."""
        raise NotImplementedError

    def ref(self, table: Table) -> str:  # pragma: no cover - SystemOfRecord's
        """Where a table is kept (see `SystemOfRecord.ref`)."""
        raise NotImplementedError

    def apply_ddl(self, statement: Statement) -> None:
        """Apply parsed Db2 DDL: the SQLite table, the catalog rows and, if captured, capture."""
        self._tables.clear()
        if isinstance(statement, CreateSchema):
            self._create_schema(statement.schema)
        elif isinstance(statement, CreateTable):
            self._create(statement.table)
        elif isinstance(statement, AddColumn):
            name = f"{statement.schema}.{statement.table}"
            self._add_column(self.table(name), statement.column)
        elif isinstance(statement, DropTable):
            self._drop(self.table(f"{statement.schema}.{statement.table}"))
        self._tables.clear()

    def _create_schema(self, schema: str) -> None:
        known = self.conn.execute(self._sql["has_schema"], (schema,)).fetchone()[0]
        if known or self.table_names(schema):
            raise DdlError(None, None, f"schema {schema} already exists")
        self.conn.execute(self._sql["add_schema"], (schema,))

    def _create(self, table: Table) -> None:
        if table.name in self.table_names(table.schema):
            raise DdlError(table.qualified_name, None, "already exists")
        self.conn.execute(storage.create_table_sql(table, self.schema))
        self.conn.execute(self._sql["add_schema"], (table.schema,))
        self.conn.execute(self._sql["add_table"], (table.schema, table.name, len(table.columns)))
        for number, column in enumerate(table.columns, start=1):
            self._catalog_column(table, column, number)

    def _catalog_column(self, table: Table, column: Column, number: int) -> None:
        keyseq = table.primary_key.index(column.name) + 1 if column.name in table.primary_key else 0
        length = column.length if column.length is not None else _FIXED_LENGTHS[column.type]
        self.conn.execute(
            self._sql["add_column"],
            (
                table.schema, table.name, column.name, number, COLTYPES[column.type], length,
                column.scale or 0, "Y" if column.nullable else "N", column.default, keyseq,
            ),
        )  # fmt: skip

    def _add_column(self, table: Table, column: Column) -> None:
        if any(c.name == column.name for c in table.columns):
            raise DdlError(table.qualified_name, column.name, "already exists")
        self.conn.execute(storage.add_column_sql(table, column, self.schema))
        self._catalog_column(table, column, len(table.columns) + 1)
        self.conn.execute(self._sql["count_columns"], (table.schema, table.name))
        if table.qualified_name in self.captured_tables():
            grown = Table(table.schema, table.name, (*table.columns, column), table.primary_key)
            for sql in storage.cd_add_column_sql(table, column, self.schema):
                self.conn.execute(sql)
            self._replace_triggers(grown, self._registered_as_delete_insert(table))

    def _drop(self, table: Table) -> None:
        if table.qualified_name in self.captured_tables():
            self._drop_capture(table)
        self.conn.execute(f"DROP TABLE {self.ref(table)}")
        self.conn.execute(self._sql["drop_table"], (table.schema, table.name))
        self.conn.execute(self._sql["drop_columns"], (table.schema, table.name))

    def _drop_capture(self, table: Table) -> None:
        for name in storage.trigger_names(table, self.schema):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        self.conn.execute(f"DROP TABLE IF EXISTS {storage.cd_ref(self.schema, table)}")
        self.conn.execute(self._sql["unregister"], (table.schema, table.name))

    def _registered_as_delete_insert(self, table: Table) -> bool:
        row = self.conn.execute(self._sql["registration_mode"], (table.schema, table.name))
        found = row.fetchone()
        return found is not None and str(found[0] or "N").strip() == "Y"

    def _replace_triggers(self, table: Table, updates_as_delete_insert: bool) -> None:
        for name in storage.trigger_names(table, self.schema):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        lsn_bytes = self.flavor.lsn_bytes
        for sql in storage.triggers_sql(table, self.schema, lsn_bytes, updates_as_delete_insert):
            self.conn.execute(sql)

    def register(self, name: str) -> bool:
        """Put a table under capture (CD table, triggers, IBMSNAP_REGISTER row), as ASN
        registration does. Returns False when it already was. Run inside a unit of work."""
        table = self.table(name)
        if table.qualified_name in self.captured_tables():
            return False
        if not table.primary_key:
            raise DdlError(table.qualified_name, None, "needs a PRIMARY KEY to be captured")
        target = self.ref(table)
        rows = self.conn.execute(self._sql["count_rows"].replace("{table}", target)).fetchone()[0]
        self.conn.execute(storage.cd_table_sql(table, self.schema, self.flavor.lsn_bytes))
        del_ins = self.updates_as_delete_insert
        self._replace_triggers(table, del_ins)
        cd = storage.cd_table_name(table.name)
        # The registering unit's LSN, and whether the table already held rows: then its
        # capture history does not reproduce it, and capture starts with a snapshot.
        owner = table.schema
        params = (owner, table.name, owner, cd, owner, cd, rows, "Y" if del_ins else "N")
        self.conn.execute(self._sql["register"], params)
        return True


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
