"""Db2 → Avro: the schemas of change events, transaction markers and reference records.

Part of the event contract. Every schema is generated here from the table catalog (or from a
reference file's declared fields) as a plain JSON-able dict; `codec` parses it once.

| Db2 type       | Avro type                                   | Python value             |
|----------------|---------------------------------------------|--------------------------|
| DECIMAL(p,s)   | bytes, logicalType decimal, precision p, s  | decimal.Decimal          |
| DATE           | int, logicalType date                       | datetime.date            |
| TIME           | long, logicalType time-micros               | datetime.time            |
| TIMESTAMP      | long, logicalType local-timestamp-micros    | naive datetime.datetime  |
| CHAR(n)        | string (trailing blanks removed)            | str                      |
| VARCHAR(n)     | string                                      | str                      |
| SMALLINT       | int                                         | int                      |
| INTEGER        | int                                         | int                      |
| BIGINT         | long                                        | int                      |
| DOUBLE         | double                                      | float                    |

A nullable column is `["null", T]` with default null. Every column field carries the extra
attribute `db2Type` with its Db2 DDL type, so a reader can rebuild the exact table.
TIMESTAMP uses `local-timestamp-micros`, not `timestamp-micros`: a Db2 TIMESTAMP is a wall-clock
time with no zone, and `timestamp-micros` would claim an instant in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from event_contract.catalog import Column, Db2Type, Table
from event_contract.errors import SchemaDefinitionError

Schema = dict[str, Any]
"""An Avro schema as a JSON-able dict."""

CONNECTOR = "offload-db2"
SOURCE_NAMESPACE = "offload.db2"
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DECLARED_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)
_NO_DEFAULT = object()

_PRIMITIVE: dict[Db2Type, Any] = {
    Db2Type.CHAR: "string",
    Db2Type.VARCHAR: "string",
    Db2Type.SMALLINT: "int",
    Db2Type.INTEGER: "int",
    Db2Type.BIGINT: "long",
    Db2Type.DOUBLE: "double",
    Db2Type.DATE: {"type": "int", "logicalType": "date"},
    Db2Type.TIME: {"type": "long", "logicalType": "time-micros"},
    Db2Type.TIMESTAMP: {"type": "long", "logicalType": "local-timestamp-micros"},
}
_DECLARED: dict[str, Any] = {
    "string": "string",
    "int": "int",
    "long": "long",
    "double": "double",
    "boolean": "boolean",
    "date": {"type": "int", "logicalType": "date"},
    "time": {"type": "long", "logicalType": "time-micros"},
    "timestamp": {"type": "long", "logicalType": "local-timestamp-micros"},
}


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


@dataclass(frozen=True, slots=True)
class DeclaredField:
    """A field of a reference record as its load definition declares it.

    Attributes:
        name: the field name (a valid Avro name).
        type: one of string, int, long, double, boolean, date, time, timestamp, decimal(p,s).
        nullable: whether the field may be missing or null.
    """

    name: str
    type: str
    nullable: bool = True


def avro_namespace(*parts: str) -> str:
    """An Avro namespace from dotted parts: lower case, each name part made a valid Avro name.

    `avro_namespace("offload", "SHIPPING", "ORDERS")` is `offload.shipping.orders`; a '-' (or
    any other character Avro names do not allow) becomes '_', a part starting with a digit
    gets a leading '_'.
    """
    names = [name for part in parts for name in part.lower().split(".") if name]
    cleaned = [re.sub(r"[^a-z0-9_]", "_", name) for name in names]
    return ".".join(f"_{name}" if name[0].isdigit() else name for name in cleaned)


def column_type(column: Column) -> Any:
    """The Avro type of `column`'s values, without the null branch."""
    if column.type is Db2Type.DECIMAL:
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": column.length,
            "scale": column.scale,
        }
    return _PRIMITIVE[column.type]


def column_field(column: Column, table: str = "", force_required: bool = False) -> Schema:
    """The Avro field of `column`: nullable as `["null", T]` default null, with `db2Type`.

    A NOT NULL column with a literal default gets that default as its Avro default, so adding
    it later is a BACKWARD-compatible change. Special registers (CURRENT DATE, ...) have no
    Avro equivalent and give no default.

    Args:
        column: the column.
        table: SCHEMA.TABLE, named in errors.
        force_required: drop the null branch (primary-key columns in the `Key` record).
    """
    avro = column_type(column)
    field: Schema = {"name": column.name, "type": avro}
    if column.nullable and not force_required:
        field["type"] = ["null", avro]
        field["default"] = None
    elif column.default is not None:
        default = _literal_default(column, table)
        if default is not _NO_DEFAULT:
            field["default"] = default
    field["db2Type"] = column.type_sql
    return field


def row_schema(table: Table, prefix: str) -> Schema:
    """The `Value` record: one field per column, in declaration order."""
    return {
        "type": "record",
        "name": "Value",
        "namespace": avro_namespace(prefix, table.schema, table.name),
        "fields": [column_field(c, table.qualified_name) for c in table.columns],
    }


def key_schema(table: Table, prefix: str) -> Schema:
    """The `Key` record of a change topic: the primary-key columns, never null."""
    if not table.primary_key:
        raise SchemaDefinitionError(f"table {table.qualified_name}", "has no primary key")
    return {
        "type": "record",
        "name": "Key",
        "namespace": avro_namespace(prefix, table.schema, table.name),
        "fields": [
            column_field(c, table.qualified_name, force_required=True) for c in table.key_columns
        ],
    }


def source_schema() -> Schema:
    """The `Source` record of the envelope: where and when a change happened."""
    fields = [
        ("version", "string"),
        ("connector", "string"),
        ("name", "string"),
        ("ts_ms", "long"),
        ("snapshot", "string"),
        ("db", "string"),
        ("schema", "string"),
        ("table", "string"),
        ("commit_lsn", "long"),
        ("change_lsn", "long"),
        ("txId", "string"),
    ]
    return {
        "type": "record",
        "name": "Source",
        "namespace": SOURCE_NAMESPACE,
        "fields": [{"name": name, "type": kind} for name, kind in fields],
    }


def envelope_schema(table: Table, prefix: str) -> Schema:
    """The `Envelope` record of a change event (Debezium's change-event envelope)."""
    value = row_schema(table, prefix)
    value_name = f"{value['namespace']}.Value"
    block = {
        "type": "record",
        "name": "TransactionBlock",
        "namespace": SOURCE_NAMESPACE,
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"},
        ],
    }
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": value["namespace"],
        "fields": [
            {"name": "before", "type": ["null", value], "default": None},
            {"name": "after", "type": ["null", value_name], "default": None},
            {"name": "source", "type": source_schema()},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": "long"},
            {"name": "transaction", "type": ["null", block], "default": None},
        ],
    }


def transaction_key_schema(prefix: str) -> Schema:
    """Key of the transaction metadata topic: the unit of work's id."""
    return {
        "type": "record",
        "name": "TransactionMetadataKey",
        "namespace": avro_namespace(prefix),
        "fields": [{"name": "id", "type": "string"}],
    }


def transaction_value_schema(prefix: str) -> Schema:
    """Value of the transaction metadata topic: a BEGIN or END marker of a unit of work."""
    collection = {
        "type": "record",
        "name": "DataCollection",
        "fields": [
            {"name": "data_collection", "type": "string"},
            {"name": "event_count", "type": "long"},
        ],
    }
    return {
        "type": "record",
        "name": "TransactionMetadataValue",
        "namespace": avro_namespace(prefix),
        "fields": [
            {"name": "status", "type": "string"},
            {"name": "id", "type": "string"},
            {"name": "ts_ms", "type": "long"},
            {"name": "commit_lsn", "type": "long"},
            {"name": "event_count", "type": ["null", "long"], "default": None},
            {
                "name": "data_collections",
                "type": ["null", {"type": "array", "items": collection}],
                "default": None,
            },
        ],
    }


def declared_schema(name: str, namespace: str, fields: Iterable[DeclaredField]) -> Schema:
    """A record schema from declared fields (the reference loader's key and value records).

    Args:
        name: the record name, e.g. `Key` or `Value`.
        namespace: e.g. `avro_namespace(prefix, "reference", "ports")`.
        fields: the fields in order; nullable ones become `["null", T]` default null.

    Raises:
        SchemaDefinitionError: a field name that Avro does not allow, or an unknown type.
    """
    out: list[Schema] = []
    for field in fields:
        if not _NAME_RE.match(field.name):
            raise SchemaDefinitionError(
                f"field {field.name!r}", "is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        avro = declared_type(field.type)
        if field.nullable:
            out.append({"name": field.name, "type": ["null", avro], "default": None})
        else:
            out.append({"name": field.name, "type": avro})
    return {"type": "record", "name": name, "namespace": namespace, "fields": out}


def reference_key_schema(prefix: str, name: str, fields: Iterable[DeclaredField]) -> Schema:
    """The `Key` record of reference topic `<prefix>.reference.<name>`; key fields never null."""
    required = [DeclaredField(f.name, f.type, nullable=False) for f in fields]
    return declared_schema("Key", avro_namespace(prefix, "reference", name), required)


def reference_value_schema(prefix: str, name: str, fields: Iterable[DeclaredField]) -> Schema:
    """The `Value` record of reference topic `<prefix>.reference.<name>`."""
    return declared_schema("Value", avro_namespace(prefix, "reference", name), fields)


def declared_type(text: str) -> Any:
    """The Avro type of a declared type name such as `long` or `decimal(9,2)`."""
    spelled = text.strip().lower()
    if spelled in _DECLARED:
        return _DECLARED[spelled]
    match = _DECLARED_DECIMAL_RE.match(spelled)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise SchemaDefinitionError(
                f"type {text!r}", "needs 1 <= precision <= 38 and scale <= precision"
            )
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    known = ", ".join([*_DECLARED, "decimal(p,s)"])
    raise SchemaDefinitionError(f"type {text!r}", f"is not supported (use one of {known})")


def row_columns(schema: Mapping[str, Any]) -> list[ColumnSpec]:
    """The columns of a row schema, or of an `Envelope`'s row: what a mirror table needs.

    Fields with a `db2Type` attribute give that type; other fields (reference records) map
    back from Avro: decimal → DECIMAL(p,s), date → DATE, time-micros → TIME, timestamps →
    TIMESTAMP, string → VARCHAR, int → INTEGER, long → BIGINT, double → DOUBLE, float → REAL,
    boolean → BOOLEAN.

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


def _literal_default(column: Column, table: str) -> Any:
    """The Avro default for a NOT NULL column's SQL default, or _NO_DEFAULT."""
    text = (column.default or "").strip()
    quoted = len(text) >= 2 and text[0] == "'" and text[-1] == "'"
    literal = text[1:-1].replace("''", "'") if quoted else text
    try:
        return _convert_default(column, literal, quoted)
    except (ValueError, InvalidOperation) as exc:
        where = f"column {table}.{column.name}" if table else f"column {column.name}"
        raise SchemaDefinitionError(
            where, f"default {text!r} does not fit {column.type_sql}"
        ) from exc


def _convert_default(column: Column, literal: str, quoted: bool) -> Any:
    kind = column.type
    if kind in (Db2Type.CHAR, Db2Type.VARCHAR):
        if not quoted:
            return _NO_DEFAULT
        return literal.rstrip(" ") if kind is Db2Type.CHAR else literal
    if not quoted and kind in (Db2Type.DATE, Db2Type.TIME, Db2Type.TIMESTAMP):
        return _NO_DEFAULT  # CURRENT DATE and the like
    if kind in (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT):
        return int(literal)
    if kind is Db2Type.DOUBLE:
        return float(literal)
    if kind is Db2Type.DECIMAL:
        unscaled = int(Decimal(literal).scaleb(column.scale or 0).to_integral_exact())
        size = (unscaled.bit_length() + 8) // 8
        # Avro writes a bytes default as a string of code points 0..255.
        return unscaled.to_bytes(size, "big", signed=True).decode("latin-1")
    if kind is Db2Type.DATE:
        return (date.fromisoformat(literal) - _EPOCH_DATE).days
    if kind is Db2Type.TIME:
        moment = time.fromisoformat(literal.replace(".", ":", 2))
        return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + (
            moment.microsecond
        )
    stamp = _parse_timestamp(literal)
    return (stamp - _EPOCH) // _MICROSECOND


def _parse_timestamp(text: str) -> datetime:
    # Db2 writes 2024-01-31-13.45.00.000000; ISO is accepted too.
    match = re.match(r"^(\d{4}-\d{2}-\d{2})[- T](\d{2})[.:](\d{2})[.:](\d{2})(\.\d{1,6})?$", text)
    if not match:
        raise ValueError(text)
    day, hour, minute, second, fraction = match.groups()
    return datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}{fraction or ''}")
