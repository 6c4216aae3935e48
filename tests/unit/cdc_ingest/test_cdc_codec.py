"""The Confluent wire format: exact round trips of every Db2 type, the bytes, the errors."""

from __future__ import annotations

import io
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_contract.avro_types import envelope_schema, key_schema, row_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange
from event_contract.codec import Codec, Encoder, schema_id_of
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope, row_record
from event_contract.errors import CodecError

TINY = {"type": "record", "name": "Tiny", "fields": [{"name": "a", "type": "long"}]}


def _codec(schemas: dict[int, dict[str, Any]]) -> Codec:
    return Codec(schemas.get)


def _fastavro_bytes(schema: dict[str, Any], record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def test_wire_format_bytes() -> None:
    data = Encoder(0x01020304, TINY).encode({"a": 1})
    assert data == b"\x00\x01\x02\x03\x04\x02"
    assert schema_id_of(data) == 0x01020304
    assert Encoder(7, TINY).encode({"a": -65}) == b"\x00\x00\x00\x00\x07\x81\x01"


def _one_column(column: Column) -> Table:
    return Table("S", "T", (column,), (column.name,))


EXACT_VALUES = [
    (Column("X", Db2Type.DECIMAL, 31, 0), Decimal("9" * 31)),
    (Column("X", Db2Type.DECIMAL, 31, 0), Decimal("-" + "9" * 31)),
    (Column("X", Db2Type.DECIMAL, 31, 2), Decimal("9" * 29 + ".99")),
    (Column("X", Db2Type.DECIMAL, 31, 2), Decimal("-" + "9" * 29 + ".99")),
    (Column("X", Db2Type.DECIMAL, 31, 31), Decimal("0." + "9" * 31)),
    (Column("X", Db2Type.DECIMAL, 31, 31), Decimal("-0." + "0" * 30 + "1")),
    (Column("X", Db2Type.DECIMAL, 9, 2), Decimal("-0.01")),
    (Column("X", Db2Type.DECIMAL, 9, 2), Decimal("0.00")),
    (Column("X", Db2Type.DECIMAL, 9, 2), Decimal("-128.00")),
    (Column("X", Db2Type.DATE), date(1, 1, 1)),
    (Column("X", Db2Type.DATE), date(9999, 12, 31)),
    (Column("X", Db2Type.DATE), date(1969, 12, 31)),
    (Column("X", Db2Type.TIME), time(0, 0, 0)),
    (Column("X", Db2Type.TIME), time(23, 59, 59)),
    (Column("X", Db2Type.TIME), time(12, 0, 0, 1000)),  # whole ms: all time-millis holds
    (Column("X", Db2Type.TIMESTAMP), datetime(1, 1, 1, 0, 0, 0, 0)),
    (Column("X", Db2Type.TIMESTAMP), datetime(9999, 12, 31, 23, 59, 59, 999_999)),
    (Column("X", Db2Type.TIMESTAMP), datetime(1969, 12, 31, 23, 59, 59, 999_999)),
    (Column("X", Db2Type.TIMESTAMP), datetime(2024, 2, 29, 13, 45, 0, 123_456)),
    (Column("X", Db2Type.SMALLINT), -32768),
    (Column("X", Db2Type.INTEGER), 2**31 - 1),
    (Column("X", Db2Type.INTEGER), -(2**31)),
    (Column("X", Db2Type.BIGINT), 2**63 - 1),
    (Column("X", Db2Type.BIGINT), -(2**63)),
    (Column("X", Db2Type.DOUBLE), -1.7976931348623157e308),
    (Column("X", Db2Type.DOUBLE), 5e-324),
    (Column("X", Db2Type.VARCHAR, 40), "  é ü 日本  "),
    (Column("X", Db2Type.VARCHAR, 40), ""),
    (Column("X", Db2Type.CHAR, 5), "AB"),
    (Column("X", Db2Type.DECIMAL, 9, 2), None),
    (Column("X", Db2Type.TIMESTAMP), None),
    (Column("X", Db2Type.VARCHAR, 3), None),
]


@pytest.mark.parametrize(("column", "value"), EXACT_VALUES)
def test_every_type_round_trips_exactly(column: Column, value: Any) -> None:
    schema = row_schema(_one_column(column), "p")
    data = Encoder(5, schema).encode({"X": value})
    decoded = _codec({5: schema}).decode(data)["X"]
    assert decoded == value
    assert type(decoded) is type(value)
    if isinstance(value, Decimal):
        assert decoded.as_tuple().exponent == -(column.scale or 0)
    assert data[5:] == _fastavro_bytes(schema, {"X": value})


def test_char_trailing_blanks_are_gone_after_a_round_trip(orders: Table) -> None:
    layout = TableLayout(orders)
    row = {c.name: None for c in orders.columns} | {
        "ORDER_ID": 1,
        "REGION": "EU  ",
        "CODE": "X    ",
    }
    change = RowChange("SHIPPING.ORDERS", Op.INSERT, 3, 1, None, row)
    envelope = change_envelope(
        change, layout, TxInfo("u", 3, 0), SourceInfo("p", "db"), order=(1, 1), ts_ms=0
    )
    schema = envelope_schema(orders, "p")
    decoded = _codec({9: schema}).decode(Encoder(9, schema).encode(envelope))
    assert (decoded["after"]["REGION"], decoded["after"]["CODE"]) == ("EU", "X")
    assert decoded == envelope


DB2_TIMES = st.times().map(lambda t: t.replace(microsecond=0))
"""A Db2 TIME holds whole seconds."""

ROWS = st.fixed_dictionaries(
    {
        "ORDER_ID": st.integers(-(2**63), 2**63 - 1),
        "REGION": st.text(max_size=4),
        "AMOUNT": st.none()
        | st.decimals(
            places=2,
            min_value=-(10**29) + 1,
            max_value=10**29 - 1,
            allow_nan=False,
            allow_infinity=False,
        ),
        "QTY": st.none() | st.integers(-32768, 32767),
        "LINES": st.none() | st.integers(-(2**31), 2**31 - 1),
        "STATUS": st.none() | st.text(max_size=20),
        "CODE": st.none() | st.text(max_size=10),
        "ORDERED_ON": st.none() | st.dates(),
        "CUTOFF": st.none() | DB2_TIMES,
        "UPDATED_AT": st.none() | st.datetimes(),
        "WEIGHT": st.none() | st.floats(allow_nan=False),
    }
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.none() | ROWS,
    after=st.none() | ROWS,
    order=st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)),
)
def test_compiled_writer_writes_fastavros_bytes_and_round_trips(
    orders: Table,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    order: tuple[int, int],
) -> None:
    layout = TableLayout(orders)
    op = Op.UPDATE if before and after else Op.DELETE if before else Op.INSERT
    change = RowChange(
        "SHIPPING.ORDERS",
        op,
        2**40,
        3,
        before,
        after or (None if before else {"ORDER_ID": 1, "REGION": ""}),
    )
    envelope = change_envelope(
        change,
        layout,
        TxInfo("u-1", 2**40, 1714564800250),
        SourceInfo("p", "db"),
        order=order,
        ts_ms=-5,
    )
    schema = envelope_schema(orders, "p")
    data = Encoder(11, schema).encode(envelope)
    assert data[5:] == _fastavro_bytes(schema, envelope)
    assert _codec({11: schema}).decode(data) == envelope


def test_a_schema_the_compiler_does_not_handle_still_encodes() -> None:
    schema = {
        "type": "record",
        "name": "E",
        "fields": [
            {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A", "B"]}},
            {"name": "tags", "type": {"type": "map", "values": "string"}},
            {"name": "any", "type": ["null", "long", "string"]},
        ],
    }
    record = {"kind": "B", "tags": {"x": "y"}, "any": "s"}
    data = Encoder(3, schema).encode(record)
    assert _codec({3: schema}).decode(data) == record


def test_transaction_markers_round_trip() -> None:
    from event_contract.avro_types import transaction_value_schema

    schema = transaction_value_schema("p")
    end = {
        "status": "END",
        "id": "uow-1",
        "ts_ms": 1,
        "commit_lsn": 2,
        "event_count": 3,
        "data_collections": [
            {"data_collection": "S.A", "event_count": 2},
            {"data_collection": "S.B", "event_count": 1},
        ],
        "part": "telemetry",
        "parts": 2,
    }
    begin = dict(end, status="BEGIN", event_count=None, data_collections=None)
    for record in (end, begin, dict(end, data_collections=[])):
        data = Encoder(4, schema).encode(record)
        assert data[5:] == _fastavro_bytes(schema, record)
        assert _codec({4: schema}).decode(data) == record


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x01", "message of 3 bytes is shorter than the 5-byte Confluent header"),
        (b"", "message of 0 bytes is shorter than the 5-byte Confluent header"),
        (
            b"\x01\x00\x00\x00\x07\x02",
            "message starts with magic byte 1, not 0: not in the Confluent wire format",
        ),
        (b"\x00\x00\x00\x00\x08\x02", "unknown schema id 8: no schema has it"),
        (
            b"\x00\x00\x00\x00\x07",
            "cannot decode the 0-byte payload with schema id 7: it ends before the record does",
        ),
        (
            b"\x00\x00\x00\x00\x07\x02\x02",
            "payload with schema id 7 has 1 bytes left after the record: "
            "written with another schema",
        ),
    ],
)
def test_decode_errors_name_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(CodecError) as caught:
        _codec({7: TINY}).decode(data)
    assert str(caught.value) == message


def test_a_payload_of_another_schema_is_refused() -> None:
    string_schema = {"type": "record", "name": "S", "fields": [{"name": "s", "type": "string"}]}
    data = Encoder(7, TINY).encode({"a": 100})
    with pytest.raises(CodecError) as caught:
        _codec({7: string_schema}).decode(data)
    assert caught.value.schema_id == 7
    assert str(caught.value).startswith("cannot decode the 2-byte payload with schema id 7: ")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            Column("X", Db2Type.BIGINT),
            "12",
            "cannot encode a record with schema id 6: TypeError: ",
        ),
        (
            Column("X", Db2Type.DECIMAL, 9, 2),
            Decimal("1.005"),
            "cannot encode a record with schema id 6: ValueError: 1.005 has more than 2 digits "
            "after the point",
        ),
        (
            Column("X", Db2Type.DECIMAL, 5, 2),
            Decimal("1234.00"),
            "cannot encode a record with schema id 6: ValueError: 1234.00 has more than 5 digits",
        ),
        (
            Column("X", Db2Type.DECIMAL, 5, 2),
            1.5,
            "cannot encode a record with schema id 6: TypeError: expected a Decimal, got float",
        ),
        (
            Column("X", Db2Type.INTEGER, nullable=False),
            None,
            "cannot encode a record with schema id 6: TypeError: ",
        ),
    ],
)
def test_encode_errors_name_the_schema_and_the_cause(
    column: Column, value: Any, message: str
) -> None:
    encoder = Encoder(6, row_schema(_one_column(column), "p"))
    with pytest.raises(CodecError) as caught:
        encoder.encode({"X": value})
    assert str(caught.value).startswith(message)


def test_a_naive_timestamp_is_required() -> None:
    from datetime import UTC

    encoder = Encoder(6, row_schema(_one_column(Column("X", Db2Type.TIMESTAMP)), "p"))
    with pytest.raises(CodecError) as caught:
        encoder.encode({"X": datetime(2024, 1, 1, tzinfo=UTC)})
    assert str(caught.value) == (
        "cannot encode a record with schema id 6: ValueError: expected a naive datetime "
        "(Db2 TIMESTAMP), got 2024-01-01T00:00:00+00:00"
    )


def test_keys_encode_with_their_own_schema(orders: Table) -> None:
    schema = key_schema(orders, "p")
    key = {"ORDER_ID": 5, "REGION": "EU"}
    assert _codec({2: schema}).decode(Encoder(2, schema).encode(key)) == key


def test_row_record_fills_missing_nullable_columns(orders: Table) -> None:
    record = row_record(TableLayout(orders), {"ORDER_ID": 1, "REGION": "X"})
    assert record["AMOUNT"] is None and len(record) == len(orders.columns)
