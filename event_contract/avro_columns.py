"""Avro → SQL: the columns a row schema describes, what a mirror table of a topic needs.

The reverse of `avro_types`: a field generated from the catalog carries its exact Db2 type in
the `db2Type` attribute; any other field (reference records) maps back from its Avro type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from event_contract.errors import SchemaDefinitionError


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column recovered from an Avro row schema: what a mirror table needs.

    Attributes:
        name: the field name (the Db2 column name for change topics).
        type_sql: the SQL type, e.g. `DECIMAL(31,2)`, `CHAR(10)`, `TIMESTAMP`, `BOOLEAN`.
        nullable: whether the field admits null.
    """

    name: str
    type_sql: str
    nullable: bool


def row_columns(schema: Mapping[str, Any]) -> list[ColumnSpec]:
    """The columns of a row schema, or of an `Envelope`'s row: what a mirror table needs.

    Fields with a `db2Type` attribute give that type; other fields (reference records) map
    back from Avro: decimal → DECIMAL(p,s), date → DATE, time-millis and time-micros → TIME,
    timestamps → TIMESTAMP, string → VARCHAR, int → INTEGER, long → BIGINT, double → DOUBLE,
    float → REAL, boolean → BOOLEAN.

    Raises:
        SchemaDefinitionError: a field type with no SQL column equivalent.
    """
    record = _row_record(schema)
    columns = []
    for field in record["fields"]:
        kind = field["type"]
        nullable = isinstance(kind, list) and "null" in kind
        if isinstance(kind, list):
            branches = [b for b in kind if b != "null"]
            if len(branches) != 1:
                raise SchemaDefinitionError(f"field {field['name']}", f"has union type {kind}")
            kind = branches[0]
        type_sql = field.get("db2Type") or _sql_type(field["name"], kind)
        columns.append(ColumnSpec(field["name"], type_sql, nullable))
    return columns


def _row_record(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    if schema.get("type") != "record":
        raise SchemaDefinitionError("row schema", f"is not a record: {schema.get('type')!r}")
    names = {field["name"] for field in schema["fields"]}
    if {"before", "after", "op", "source"} <= names:
        before = next(f for f in schema["fields"] if f["name"] == "before")
        return next(b for b in before["type"] if isinstance(b, dict))
    return schema


def _sql_type(name: str, kind: Any) -> str:
    if isinstance(kind, dict):
        logical = kind.get("logicalType")
        if logical == "decimal":
            return f"DECIMAL({kind['precision']},{kind.get('scale', 0)})"
        if logical == "date":
            return "DATE"
        if logical in {"time-micros", "time-millis"}:
            return "TIME"
        if logical is not None and "timestamp" in logical:
            return "TIMESTAMP"
        kind = kind.get("type")
    simple = {
        "string": "VARCHAR",
        "int": "INTEGER",
        "long": "BIGINT",
        "double": "DOUBLE",
        "float": "REAL",
        "boolean": "BOOLEAN",
    }
    if isinstance(kind, str) and kind in simple:
        return simple[kind]
    raise SchemaDefinitionError(f"field {name}", f"has type {kind!r} with no SQL column type")
