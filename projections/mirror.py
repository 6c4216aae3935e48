"""Mirror tables: the DuckDB copy of a source table, with its exact types and primary key.

A mirror of Db2 table `SCHEMA.TABLE` is `<schema>.<table>` in DuckDB (lowercased names,
lowercased columns) with the same primary key, so SQL written against the Db2 tables runs
unchanged on it. Types map exactly: DECIMAL(p,s) → DECIMAL(p,s), DATE, TIME, TIMESTAMP,
CHAR(n)/VARCHAR(n) → VARCHAR (CHAR arrives with trailing blanks removed), SMALLINT, INTEGER,
BIGINT, DOUBLE. Reference topics are mirrored as `reference.<name>` the same way.

Beside each mirror, `_offload."keys.<schema>.<table>"` holds, per primary key, the version
(commit LSN, change position) last applied, whether that change was a delete, and its source
commit time: this is how an older or duplicate event is recognised as a no-op, deletes
included, and what derived views read "the last change that touched the row" from.

The input is a `MirrorSpec`, built from the contract's Avro schemas (`spec_from_avro`, through
`event_contract.avro_columns.row_columns`, which reads the `db2Type` attribute of every Value field)
or from a catalog `Table` (`spec_from_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from event_contract.catalog import CatalogError, Db2Type, Table, parse_type
from projections.errors import MirrorTypeError

_DUCK_TYPES = {
    Db2Type.CHAR: "VARCHAR",
    Db2Type.VARCHAR: "VARCHAR",
    Db2Type.SMALLINT: "SMALLINT",
    Db2Type.INTEGER: "INTEGER",
    Db2Type.BIGINT: "BIGINT",
    Db2Type.DATE: "DATE",
    Db2Type.TIME: "TIME",
    Db2Type.TIMESTAMP: "TIMESTAMP",
    Db2Type.DOUBLE: "DOUBLE",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "REAL": pa.float32(),
}
# SQL types of reference fields (no Db2 type; strings without a length) DuckDB holds as they are.
_PLAIN_TYPES = {"BOOLEAN", "REAL", "VARCHAR"}


@dataclass(frozen=True, slots=True)
class MirrorColumn:
    """One mirrored column.

    Attributes:
        name: the source column name as the source spells it (Db2: upper case).
        duck_type: the DuckDB type, e.g. "DECIMAL(31,2)" or "VARCHAR".
        nullable: whether NULL is allowed.
    """

    name: str
    duck_type: str
    nullable: bool = True

    @property
    def sql_name(self) -> str:
        """The lowercased column name, quoted for DuckDB."""
        return quote(self.name.lower())

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type values travel in to DuckDB."""
        if self.duck_type.startswith("DECIMAL("):
            precision, scale = self.duck_type[8:-1].split(",")
            return pa.decimal128(int(precision), int(scale))
        return _ARROW_TYPES[self.duck_type]


@dataclass(frozen=True, slots=True)
class MirrorSpec:
    """A mirrored table: source name, columns in declaration order, primary key.

    Attributes:
        schema: the source schema (or "REFERENCE" for reference topics), as the source spells it.
        name: the source table (or reference) name.
        columns: the columns in declaration order.
        primary_key: the key column names, in key order (the Kafka key's field order).
    """

    schema: str
    name: str
    columns: tuple[MirrorColumn, ...]
    primary_key: tuple[str, ...]

    @property
    def source_name(self) -> str:
        """SCHEMA.TABLE upper case: how change events name the table."""
        return f"{self.schema}.{self.name}".upper()

    @property
    def sql_name(self) -> str:
        """The mirror table, quoted: `"shipping"."orders"`."""
        return f"{quote(self.schema.lower())}.{quote(self.name.lower())}"

    @property
    def keys_table(self) -> str:
        """The per-key version table, quoted: `"_offload"."keys.shipping.orders"`."""
        return f'"_offload".{quote(f"keys.{self.schema.lower()}.{self.name.lower()}")}'

    @property
    def delta_name(self) -> str:
        """The per-batch temp table of changed rows' images that view key files read."""
        return quote(f"delta_{self.schema.lower()}_{self.name.lower()}")

    @property
    def key_columns(self) -> tuple[MirrorColumn, ...]:
        """The primary-key columns, in key order."""
        by_name = {c.name: c for c in self.columns}
        return tuple(by_name[k] for k in self.primary_key)

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of a batch for this mirror: its columns then the bookkeeping."""
        fields = [pa.field(c.name.lower(), c.arrow_type) for c in self.columns]
        fields += [
            pa.field("_lsn", pa.int64()),
            pa.field("_seq", pa.int64()),
            pa.field("_del", pa.bool_()),
            pa.field("_ts", pa.timestamp("us")),
        ]
        return pa.schema(fields)

    def create_sql(self) -> str:
        """DDL of the mirror table (idempotent)."""
        cols = [
            f"{c.sql_name} {c.duck_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns
        ]
        pk = ", ".join(c.sql_name for c in self.key_columns)
        return (
            f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema.lower())};\n"
            f"CREATE TABLE IF NOT EXISTS {self.sql_name} (\n    "
            + ",\n    ".join([*cols, f"PRIMARY KEY ({pk})"])
            + "\n);"
        )

    def add_columns_sql(self, existing: set[str]) -> list[str]:
        """ALTER statements adding the columns a newer schema version brought (nullable, as a
        BACKWARD-compatible version adds them); `existing` holds lowercased column names."""
        return [
            f"ALTER TABLE {self.sql_name} ADD COLUMN {c.sql_name} {c.duck_type}"
            for c in self.columns
            if c.name.lower() not in existing
        ]

    def create_keys_sql(self) -> str:
        """DDL of the per-key version table (idempotent)."""
        cols = [f"{c.sql_name} {c.duck_type} NOT NULL" for c in self.key_columns]
        pk = ", ".join(c.sql_name for c in self.key_columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.keys_table} (\n    "
            + ",\n    ".join(
                [
                    *cols,
                    "lsn BIGINT NOT NULL",
                    "seq BIGINT NOT NULL",
                    "deleted BOOLEAN NOT NULL",
                    "commit_time TIMESTAMP",
                ]
            )
            + f",\n    PRIMARY KEY ({pk})\n);"
        )


def quote(identifier: str) -> str:
    """Quote an identifier taken from the catalog for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def duck_type_of(table: str, column: str, db2_type: str) -> str:
    """The DuckDB type that holds a Db2 type exactly, e.g. "DECIMAL(9,2)" → "DECIMAL(9,2)".

    Raises:
        MirrorTypeError: for a type the contract does not carry.
    """
    if db2_type.strip().upper() in _PLAIN_TYPES:
        return db2_type.strip().upper()
    try:
        kind, length, scale = parse_type(db2_type)
    except CatalogError as exc:
        raise MirrorTypeError(table, column, db2_type, str(exc)) from exc
    if kind is Db2Type.DECIMAL:
        return f"DECIMAL({length},{scale})"
    return _DUCK_TYPES[kind]


def spec_from_table(table: Table) -> MirrorSpec:
    """The mirror of a catalog table."""
    columns = tuple(
        MirrorColumn(c.name, duck_type_of(table.qualified_name, c.name, c.type_sql), c.nullable)
        for c in table.columns
    )
    return MirrorSpec(table.schema, table.name, columns, tuple(table.primary_key))


class ColumnLike(Protocol):
    """A column as the contract's `avro_columns.row_columns` describes it."""

    @property
    def name(self) -> str: ...
    @property
    def type_sql(self) -> str: ...
    @property
    def nullable(self) -> bool: ...


def spec_from_columns(
    schema: str, name: str, columns: Sequence[ColumnLike], primary_key: Sequence[str]
) -> MirrorSpec:
    """The mirror of a table described by columns with SQL type texts.

    Args:
        schema: the source schema ("SHIPPING", or "REFERENCE" for a reference topic).
        name: the table or reference name.
        columns: the columns in order, e.g. `avro_columns.row_columns(value_schema)`.
        primary_key: the key column names in key order (the Avro `Key` record's fields).

    Raises:
        MirrorTypeError: for a column whose type cannot be mirrored exactly.
    """
    qualified = f"{schema}.{name}".upper()
    mirrored = tuple(
        MirrorColumn(c.name, duck_type_of(qualified, c.name, c.type_sql), c.nullable)
        for c in columns
    )
    return MirrorSpec(schema, name, mirrored, tuple(primary_key))


def spec_from_avro(
    schema: str, name: str, key_schema: Mapping[str, Any], value_schema: Mapping[str, Any]
) -> MirrorSpec:
    """The mirror described by a topic's Avro key and value (Envelope or row) schemas."""
    from event_contract.avro_columns import row_columns

    primary_key = [str(f["name"]) for f in key_schema["fields"]]
    return spec_from_columns(schema, name, row_columns(value_schema), primary_key)
