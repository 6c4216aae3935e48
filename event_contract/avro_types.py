"""Db2 → Avro: the type mapping, and the schemas of change events and transaction markers.

Part of the event contract. The schemas of change topics and of the transaction metadata topic
are generated here from the table catalog as plain JSON-able dicts; `codec` parses them once.
Column defaults become Avro defaults in `avro_defaults`; reference records' schemas are built
from declared fields in `reference_schemas`; `avro_columns` reads a row schema back as columns.

| Db2 type       | Avro type                                   | Python value             |
|----------------|---------------------------------------------|--------------------------|
| DECIMAL(p,s)   | bytes, logicalType decimal, precision p, s  | decimal.Decimal          |
| DATE           | int, logicalType date                       | datetime.date            |
| TIME           | int, logicalType time-millis                | datetime.time            |
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
TIME uses `int` `time-millis`, as Debezium's Db2 connector writes it (`io.debezium.time.Time`),
so stock Debezium-format consumers read it; a Db2 TIME holds whole seconds, so nothing is lost.
Topics written before this change hold `long` `time-micros`: the readers decode both (each
record with its writer schema), and the registry refuses the new version until it is accepted
(see `compatibility`).
"""

from __future__ import annotations

import re
from typing import Any

from event_contract.avro_defaults import NO_DEFAULT, avro_default
from event_contract.catalog import Column, Db2Type, Table
from event_contract.errors import SchemaDefinitionError

Schema = dict[str, Any]
"""An Avro schema as a JSON-able dict."""

CONNECTOR = "offload-db2"
SOURCE_NAMESPACE = "offload.db2"

_PRIMITIVE: dict[Db2Type, Any] = {
    Db2Type.CHAR: "string",
    Db2Type.VARCHAR: "string",
    Db2Type.SMALLINT: "int",
    Db2Type.INTEGER: "int",
    Db2Type.BIGINT: "long",
    Db2Type.DOUBLE: "double",
    Db2Type.DATE: {"type": "int", "logicalType": "date"},
    Db2Type.TIME: {"type": "int", "logicalType": "time-millis"},
    Db2Type.TIMESTAMP: {"type": "long", "logicalType": "local-timestamp-micros"},
}


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
        default = avro_default(column, table)
        if default is not NO_DEFAULT:
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
    """Value of the transaction metadata topic: a BEGIN or END marker of a unit of work.

    `part` and `parts`: with capture split by table group, each group (`part`, its name)
    writes a BEGIN and an END for every unit of work, its END counting its own tables' events;
    the unit is complete once the ENDs of all `parts` groups arrived. Unsplit: one of each."""
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
            {"name": "part", "type": ["null", "string"], "default": None},
            {"name": "parts", "type": "int", "default": 1},
        ],
    }
