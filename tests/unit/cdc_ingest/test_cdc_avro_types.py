"""Db2 → Avro mapping, the generated schemas, the reverse mapping and BACKWARD compatibility."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from event_contract.avro_columns import ColumnSpec, row_columns
from event_contract.avro_types import (
    avro_namespace,
    column_field,
    envelope_schema,
    key_schema,
    row_schema,
    transaction_key_schema,
    transaction_value_schema,
)
from event_contract.catalog import Column, Db2Type, Table
from event_contract.compatibility import backward_incompatibilities
from event_contract.errors import SchemaDefinitionError
from event_contract.reference_schemas import (
    DeclaredField,
    declared_type,
    reference_key_schema,
    reference_value_schema,
)


@pytest.mark.parametrize(
    ("column", "avro"),
    [
        (
            Column("A", Db2Type.DECIMAL, 31, 2, nullable=False),
            {"type": "bytes", "logicalType": "decimal", "precision": 31, "scale": 2},
        ),
        (Column("A", Db2Type.DATE, nullable=False), {"type": "int", "logicalType": "date"}),
        (Column("A", Db2Type.TIME, nullable=False), {"type": "int", "logicalType": "time-millis"}),
        (
            Column("A", Db2Type.TIMESTAMP, nullable=False),
            {"type": "long", "logicalType": "local-timestamp-micros"},
        ),
        (Column("A", Db2Type.CHAR, 10, nullable=False), "string"),
        (Column("A", Db2Type.VARCHAR, 10, nullable=False), "string"),
        (Column("A", Db2Type.SMALLINT, nullable=False), "int"),
        (Column("A", Db2Type.INTEGER, nullable=False), "int"),
        (Column("A", Db2Type.BIGINT, nullable=False), "long"),
        (Column("A", Db2Type.DOUBLE, nullable=False), "double"),
    ],
)
def test_each_db2_type_maps_to_its_avro_type_with_db2type(column: Column, avro: Any) -> None:
    assert column_field(column) == {"name": "A", "type": avro, "db2Type": column.type_sql}
    nullable = column_field(replace(column, nullable=True))
    db2_type = column.type_sql
    assert nullable == {"name": "A", "type": ["null", avro], "default": None, "db2Type": db2_type}


def test_envelope_schema_has_the_debezium_fields_in_order(orders: Table) -> None:
    schema = envelope_schema(orders, "offload")
    assert schema["name"] == "Envelope"
    assert schema["namespace"] == "offload.shipping.orders"
    assert [f["name"] for f in schema["fields"]] == [
        "before",
        "after",
        "source",
        "op",
        "ts_ms",
        "transaction",
    ]
    source = schema["fields"][2]["type"]
    assert [f["name"] for f in source["fields"]] == [
        "version",
        "connector",
        "name",
        "ts_ms",
        "snapshot",
        "db",
        "schema",
        "table",
        "commit_lsn",
        "change_lsn",
        "txId",
    ]
    transaction = schema["fields"][5]
    assert transaction["default"] is None
    assert [f["name"] for f in transaction["type"][1]["fields"]] == [
        "id",
        "total_order",
        "data_collection_order",
    ]
    assert schema["fields"][0]["type"][1] == row_schema(orders, "offload")
    assert schema["fields"][1]["type"] == ["null", "offload.shipping.orders.Value"]
    fastavro.parse_schema(schema)


def test_key_schema_holds_the_primary_key_never_null(orders: Table) -> None:
    assert key_schema(orders, "offload") == {
        "type": "record",
        "name": "Key",
        "namespace": "offload.shipping.orders",
        "fields": [
            {"name": "ORDER_ID", "type": "long", "db2Type": "BIGINT"},
            {"name": "REGION", "type": "string", "db2Type": "CHAR(4)"},
        ],
    }


def test_a_table_without_primary_key_has_no_key_schema(orders: Table) -> None:
    with pytest.raises(SchemaDefinitionError) as caught:
        key_schema(replace(orders, primary_key=()), "offload")
    assert str(caught.value) == "table SHIPPING.ORDERS: has no primary key"


@pytest.mark.parametrize(
    ("parts", "namespace"),
    [
        (("offload", "SHIPPING", "ORDERS"), "offload.shipping.orders"),
        (("my-gw", "SHIPPING", "ORDER_LINES"), "my_gw.shipping.order_lines"),
        (("t-1a2b", "S"), "t_1a2b.s"),
        (("9lives.prod", "X"), "_9lives.prod.x"),
    ],
)
def test_namespaces_are_valid_avro_names(parts: tuple[str, ...], namespace: str) -> None:
    assert avro_namespace(*parts) == namespace


def test_transaction_schemas_parse_and_name_debezium_fields() -> None:
    value = transaction_value_schema("my-gw")
    assert value["name"] == "TransactionMetadataValue"
    assert value["namespace"] == "my_gw"
    assert [f["name"] for f in value["fields"]] == [
        "status",
        "id",
        "ts_ms",
        "commit_lsn",
        "event_count",
        "data_collections",
        "part",
        "parts",
    ]
    fastavro.parse_schema(value)
    # markers written before `part` and `parts` read as one part of one
    before = {**value, "fields": value["fields"][:-2]}
    assert backward_incompatibilities(value, before) == []
    assert transaction_key_schema("my-gw")["fields"] == [{"name": "id", "type": "string"}]


def test_row_columns_give_back_the_catalog(orders: Table) -> None:
    expected = [ColumnSpec(c.name, c.type_sql, c.nullable) for c in orders.columns]
    assert row_columns(envelope_schema(orders, "offload")) == expected
    assert row_columns(row_schema(orders, "offload")) == expected
    parsed = fastavro.parse_schema(envelope_schema(orders, "offload"))
    assert isinstance(parsed, dict)
    assert row_columns(parsed) == expected


def test_reference_schemas_from_declared_fields_map_back_to_sql_types() -> None:
    fields = [
        DeclaredField("port_code", "string", nullable=False),
        DeclaredField("berths", "int"),
        DeclaredField("tonnage", "long"),
        DeclaredField("fee", "decimal(9,2)"),
        DeclaredField("opened", "date"),
        DeclaredField("updated", "timestamp"),
        DeclaredField("active", "boolean"),
        DeclaredField("lat", "double"),
    ]
    value = reference_value_schema("offload", "ports", fields)
    key = reference_key_schema("offload", "ports", fields[:1])
    assert value["namespace"] == key["namespace"] == "offload.reference.ports"
    assert key["fields"] == [{"name": "port_code", "type": "string"}]
    assert row_columns(value) == [
        ColumnSpec("port_code", "VARCHAR", False),
        ColumnSpec("berths", "INTEGER", True),
        ColumnSpec("tonnage", "BIGINT", True),
        ColumnSpec("fee", "DECIMAL(9,2)", True),
        ColumnSpec("opened", "DATE", True),
        ColumnSpec("updated", "TIMESTAMP", True),
        ColumnSpec("active", "BOOLEAN", True),
        ColumnSpec("lat", "DOUBLE", True),
    ]
    fastavro.parse_schema(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "money",
            "type 'money': is not supported (use one of string, int, long, double, boolean, "
            "date, time, timestamp, decimal(p,s))",
        ),
        ("decimal(3,4)", "type 'decimal(3,4)': needs 1 <= precision <= 38 and scale <= precision"),
    ],
)
def test_unknown_declared_types_are_refused(text: str, message: str) -> None:
    with pytest.raises(SchemaDefinitionError) as caught:
        declared_type(text)
    assert str(caught.value) == message


def test_declared_field_names_must_be_avro_names() -> None:
    with pytest.raises(SchemaDefinitionError) as caught:
        reference_value_schema("offload", "ports", [DeclaredField("port-code", "string")])
    assert str(caught.value) == (
        "field 'port-code': is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)"
    )


def _table(*columns: Column) -> Table:
    return Table("S", "T", (Column("ID", Db2Type.INTEGER, nullable=False), *columns), ("ID",))


def _read_old_with_new(old: Table, new: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(row_schema(old, "p")), row)
    out.seek(0)
    reader = fastavro.parse_schema(row_schema(new, "p"))
    writer = fastavro.parse_schema(row_schema(old, "p"))
    result: dict[str, Any] = fastavro.schemaless_reader(out, writer, reader)  # type: ignore[assignment]
    return result


@pytest.mark.parametrize(
    ("column", "avro_default", "read_back"),
    [
        (Column("N", Db2Type.INTEGER, nullable=False, default="0"), 0, 0),
        (Column("N", Db2Type.CHAR, 3, nullable=False, default="'N  '"), "N", "N"),
        (Column("N", Db2Type.VARCHAR, 9, nullable=False, default="'it''s'"), "it's", "it's"),
        (Column("N", Db2Type.DOUBLE, nullable=False, default="1.5"), 1.5, 1.5),
    ],
)
def test_not_null_literal_defaults_become_avro_defaults(
    column: Column, avro_default: Any, read_back: Any
) -> None:
    assert column_field(column)["default"] == avro_default
    old, new = _table(), _table(column)
    assert backward_incompatibilities(row_schema(new, "p"), row_schema(old, "p")) == []
    assert _read_old_with_new(old, new, {"ID": 7}) == {"ID": 7, "N": read_back}


def test_a_decimal_default_is_its_unscaled_twos_complement_as_a_latin1_string() -> None:
    # The Avro spec's JSON form of a bytes default. (fastavro hands such a default back
    # undecoded, so this checks the encoding itself.)
    column = Column("N", Db2Type.DECIMAL, 9, 2, nullable=False, default="-1.5")
    default = column_field(column)["default"]
    assert default == "\xff\x6a"
    assert int.from_bytes(default.encode("latin-1"), "big", signed=True) == -150
    assert Decimal(-150).scaleb(-2) == Decimal("-1.50")


def test_date_time_timestamp_literal_defaults_are_epoch_based() -> None:
    date_col = Column("D", Db2Type.DATE, nullable=False, default="'1970-01-11'")
    time_col = Column("T", Db2Type.TIME, nullable=False, default="'00.00.01'")  # time-millis
    stamp = "'1970-01-01-00.00.01.000002'"
    stamp_col = Column("S", Db2Type.TIMESTAMP, nullable=False, default=stamp)
    assert column_field(date_col)["default"] == 10
    assert column_field(time_col)["default"] == 1_000
    assert column_field(stamp_col)["default"] == 1_000_002


def test_a_time_default_with_a_fraction_of_a_millisecond_is_refused() -> None:
    column = Column("T", Db2Type.TIME, nullable=False, default="'12.00.00.000001'")
    with pytest.raises(SchemaDefinitionError) as caught:
        column_field(column, "S.T")
    assert str(caught.value) == "column S.T.T: default \"'12.00.00.000001'\" does not fit TIME"


def test_special_register_defaults_give_no_avro_default() -> None:
    column = Column("D", Db2Type.DATE, nullable=False, default="CURRENT DATE")
    assert "default" not in column_field(column)


def test_a_default_that_does_not_fit_its_type_is_refused() -> None:
    column = Column("N", Db2Type.INTEGER, nullable=False, default="'abc'")
    with pytest.raises(SchemaDefinitionError) as caught:
        column_field(column, "S.T")
    assert str(caught.value) == "column S.T.N: default \"'abc'\" does not fit INTEGER"


# BACKWARD compatibility: the new schema must read data written with the old one.


def _problems(old: Table, new: Table) -> list[str]:
    new_schema, old_schema = envelope_schema(new, "p"), envelope_schema(old, "p")
    return [p.reason for p in backward_incompatibilities(new_schema, old_schema)]


@pytest.mark.parametrize(
    "added",
    [
        Column("NOTE", Db2Type.VARCHAR, 20),
        Column("FLAG", Db2Type.CHAR, 1, nullable=False, default="'Y'"),
    ],
)
def test_adding_a_nullable_or_defaulted_column_is_compatible(added: Column) -> None:
    assert _problems(_table(), _table(added)) == []


def test_removing_a_column_is_compatible() -> None:
    assert _problems(_table(Column("NOTE", Db2Type.VARCHAR, 20)), _table()) == []


def test_adding_a_not_null_column_without_default_is_not() -> None:
    added = Column("FLAG", Db2Type.CHAR, 1, nullable=False)
    assert _problems(_table(), _table(added)) == [
        "field FLAG (CHAR(1) NOT NULL) was added without a default"
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Column("X", Db2Type.INTEGER), Column("X", Db2Type.BIGINT)),
        (Column("X", Db2Type.SMALLINT), Column("X", Db2Type.DOUBLE)),
        (Column("X", Db2Type.CHAR, 10), Column("X", Db2Type.VARCHAR, 30)),
        (Column("X", Db2Type.INTEGER, nullable=False), Column("X", Db2Type.INTEGER)),
    ],
)
def test_avro_promotions_and_widening_to_nullable_are_compatible(old: Column, new: Column) -> None:
    assert _problems(_table(old), _table(new)) == []


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            Column("X", Db2Type.DECIMAL, 9, 2),
            Column("X", Db2Type.DECIMAL, 11, 2),
            "field X changed type from DECIMAL(9,2) to DECIMAL(11,2)",
        ),
        (
            Column("X", Db2Type.DECIMAL, 9, 2),
            Column("X", Db2Type.DECIMAL, 9, 3),
            "field X changed type from DECIMAL(9,2) to DECIMAL(9,3)",
        ),
        (
            Column("X", Db2Type.BIGINT),
            Column("X", Db2Type.INTEGER),
            "field X changed type from BIGINT to INTEGER",
        ),
        (
            Column("X", Db2Type.VARCHAR, 8),
            Column("X", Db2Type.INTEGER),
            "field X changed type from VARCHAR(8) to INTEGER",
        ),
        (
            Column("X", Db2Type.INTEGER),
            Column("X", Db2Type.DATE),
            "field X changed type from INTEGER to DATE",
        ),
        (
            Column("X", Db2Type.TIMESTAMP),
            Column("X", Db2Type.BIGINT),
            "field X changed type from TIMESTAMP to BIGINT",
        ),
        (
            Column("X", Db2Type.INTEGER),
            Column("X", Db2Type.INTEGER, nullable=False),
            "field X changed type from INTEGER to INTEGER NOT NULL",
        ),
    ],
)
def test_other_type_changes_are_incompatible_and_named_once(
    old: Column, new: Column, reason: str
) -> None:
    # The row record appears in both `before` and `after`: the field is reported once.
    assert _problems(_table(old), _table(new)) == [reason]


def test_an_incompatibility_keeps_record_field_and_both_types() -> None:
    old = _table(Column("X", Db2Type.DECIMAL, 9, 2))
    new = _table(Column("X", Db2Type.DECIMAL, 11, 2))
    (problem,) = backward_incompatibilities(row_schema(new, "p"), row_schema(old, "p"))
    assert (problem.record, problem.field) == ("p.s.t.Value", "X")
    assert (problem.old_type, problem.new_type) == ("DECIMAL(9,2)", "DECIMAL(11,2)")


def test_plain_avro_fields_are_described_by_their_avro_types() -> None:
    old = reference_value_schema("p", "r", [DeclaredField("a", "decimal(5,1)", nullable=False)])
    new = reference_value_schema("p", "r", [DeclaredField("a", "string", nullable=False)])
    (problem,) = backward_incompatibilities(new, old)
    assert problem.reason == "field a changed type from decimal(5,1) to string"
