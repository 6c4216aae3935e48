"""Db2 TIME end to end: capture encodes it as Debezium does (int time-millis), the projection
decodes it, the mirror holds it, the API renders it; records written before the change (long
time-micros) still decode to the same values (README, "Design decisions")."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdc_ingest.event_writer import EventWriter
from event_contract.avro_types import envelope_schema, key_schema
from event_contract.catalog import Table
from event_contract.changes import Op, RowChange
from event_contract.codec import Codec, Encoder
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope
from event_contract.errors import CodecError
from plumbing.topic_reader import Record
from projections.decoder import RecordDecoder
from projections.events import DecodedChange
from projections.topology import Topology
from query_api.results import jsonable, table_as_dicts
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.sor import SHIPPING_DDL

TOPIC = "p.SHIPPING.CUSTOMERS"
KEY_ID, VALUE_ID, OLD_VALUE_ID = 1, 2, 3
CUTOFFS = [time(0, 0, 0), time(23, 59, 59), time(13, 45, 30)]


def _customers() -> Table:
    texts = split_statements(SHIPPING_DDL.read_text(encoding="utf-8"))
    for text in texts:
        statement = parse_statement(text, "SHIPPING")
        if isinstance(statement, CreateTable) and statement.table.name == "CUSTOMERS":
            return statement.table
    raise AssertionError("no SHIPPING.CUSTOMERS in the shipping DDL")


CUSTOMERS = _customers()
KEY = key_schema(CUSTOMERS, "p")
VALUE = envelope_schema(CUSTOMERS, "p")


def _micros(schema: Any) -> Any:
    """`schema` as Offload wrote it before the change: every time-millis a long time-micros."""
    if isinstance(schema, dict):
        if schema.get("logicalType") == "time-millis":
            return {"type": "long", "logicalType": "time-micros"}
        return {k: _micros(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_micros(v) for v in schema]
    return schema


OLD_VALUE = _micros(VALUE)
SCHEMAS = {KEY_ID: KEY, VALUE_ID: VALUE, OLD_VALUE_ID: OLD_VALUE}


def _change(customer_id: int, cutoff: time | None, lsn: int) -> RowChange:
    row = {c.name: None for c in CUSTOMERS.columns} | {
        "CUSTOMER_ID": customer_id,
        "NAME": f"customer {customer_id}",
        "COUNTRY": "NL",
        "SEGMENT": "STANDARD",
        "CREDIT_LIMIT": Decimal("1000.00"),
        "ORDER_CUTOFF": cutoff,
        "CREATED_AT": datetime(2024, 5, 1, 8, 0),
    }
    return RowChange("SHIPPING.CUSTOMERS", Op.INSERT, lsn, 1, None, row)


def _captured(change: RowChange) -> tuple[bytes, bytes]:
    """(key, value) as capture publishes them now (the compiled event writer)."""
    writer = EventWriter(TableLayout(CUSTOMERS), (KEY_ID, KEY), (VALUE_ID, VALUE))
    tx = TxInfo(f"U{change.lsn}", change.lsn, 1_700_000_000_000)
    return writer.encode(change, tx, SourceInfo("p", "db"), (1, 1), ts_ms=0)


def _captured_before_the_change(change: RowChange) -> tuple[bytes, bytes]:
    """(key, value) as capture published them with TIME as long time-micros."""
    tx = TxInfo(f"U{change.lsn}", change.lsn, 1_700_000_000_000)
    envelope = change_envelope(
        change, TableLayout(CUSTOMERS), tx, SourceInfo("p", "db"), order=(1, 1), ts_ms=0
    )
    key = Encoder(KEY_ID, KEY).encode({"CUSTOMER_ID": change.after["CUSTOMER_ID"]})  # type: ignore[index]
    return key, Encoder(OLD_VALUE_ID, OLD_VALUE).encode(envelope)


def _decoded(kit: SimpleNamespace, key: bytes, value: bytes, offset: int) -> DecodedChange:
    topology = Topology("p.transaction", {TOPIC: kit.SHIPPING["SHIPPING.CUSTOMERS"]}, {})
    record = Record(TOPIC, 0, offset, key, value, (), 1_700_000_000_000)
    event = RecordDecoder(Codec(SCHEMAS.get), topology).decode(record)
    assert isinstance(event, DecodedChange)
    return event


def _api_rows(projection: Any) -> list[dict[str, Any]]:
    """The mirror's rows as the query API renders them (Arrow from DuckDB, then JSON values)."""
    sql = "SELECT customer_id, order_cutoff FROM shipping.customers ORDER BY customer_id"
    return table_as_dicts(projection.con.sql(sql).to_arrow_table())


@pytest.mark.parametrize("publish", [_captured, _captured_before_the_change])
def test_time_values_reach_the_mirror_and_the_api_exactly(
    projection: Any, kit: SimpleNamespace, publish: Callable[[RowChange], tuple[bytes, bytes]]
) -> None:
    changes = [_change(i, cutoff, 10 + i) for i, cutoff in enumerate([*CUTOFFS, None])]
    events = [_decoded(kit, *publish(change), i) for i, change in enumerate(changes)]
    assert [e.row["ORDER_CUTOFF"] for e in events] == [*CUTOFFS, None]  # type: ignore[index]
    projection.applier.apply([kit.unit(e.commit_lsn, e) for e in events], {})
    mirror = projection.rows("SELECT customer_id, order_cutoff FROM shipping.customers")
    assert mirror == [(0, time(0, 0)), (1, time(23, 59, 59)), (2, time(13, 45, 30)), (3, None)]
    assert _api_rows(projection) == [
        {"customer_id": 0, "order_cutoff": "00:00:00"},
        {"customer_id": 1, "order_cutoff": "23:59:59"},
        {"customer_id": 2, "order_cutoff": "13:45:30"},
        {"customer_id": 3, "order_cutoff": None},
    ]
    assert [jsonable(c) for c in CUTOFFS] == ["00:00:00", "23:59:59", "13:45:30"]


def test_one_topic_holding_both_encodings_decodes_every_record(
    projection: Any, kit: SimpleNamespace
) -> None:
    old = _decoded(kit, *_captured_before_the_change(_change(7, time(6, 30, 0), 20)), 0)
    new = _decoded(kit, *_captured(_change(7, time(18, 15, 5), 21)), 1)
    projection.applier.apply([kit.unit(20, old)], {})
    assert _api_rows(projection) == [{"customer_id": 7, "order_cutoff": "06:30:00"}]
    projection.applier.apply([kit.unit(21, new)], {})
    assert _api_rows(projection) == [{"customer_id": 7, "order_cutoff": "18:15:05"}]


def _cutoff_reader_schema() -> Any:
    """What a stock Debezium-format consumer declares for a nullable Db2 TIME: int time-millis."""
    return {
        "type": "record",
        "name": "Value",
        "namespace": "p.shipping.customers",
        "fields": [
            {
                "name": "ORDER_CUTOFF",
                "type": ["null", {"type": "int", "logicalType": "time-millis"}],
                "default": None,
            }
        ],
    }


def _after_image(value: bytes, writer: Any) -> bytes:
    """The Avro bytes of an envelope's `after` row image (for a stock reader of the row)."""
    decoded = Codec({VALUE_ID: writer, OLD_VALUE_ID: writer}.get).decode(value)
    row_schema = next(b for b in writer["fields"][0]["type"] if isinstance(b, dict))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(row_schema), decoded["after"])
    return out.getvalue()


def test_a_stock_time_millis_reader_reads_the_new_records_not_the_old() -> None:
    change = _change(1, time(13, 45, 30), 5)
    row = next(b for b in VALUE["fields"][0]["type"] if isinstance(b, dict))
    new = _captured(change)[1]
    read = fastavro.schemaless_reader(
        io.BytesIO(_after_image(new, VALUE)),
        fastavro.parse_schema(row),
        fastavro.parse_schema(_cutoff_reader_schema()),
    )
    assert read == {"ORDER_CUTOFF": time(13, 45, 30)}
    old = _captured_before_the_change(change)[1]
    old_row = next(b for b in OLD_VALUE["fields"][0]["type"] if isinstance(b, dict))
    with pytest.raises(fastavro.read.SchemaResolutionError):
        fastavro.schemaless_reader(
            io.BytesIO(_after_image(old, OLD_VALUE)),
            fastavro.parse_schema(old_row),
            fastavro.parse_schema(_cutoff_reader_schema()),
        )


def test_the_time_bytes_are_debeziums_int_milliseconds() -> None:
    value = _captured(_change(1, time(0, 0, 1), 5))[1]
    decoded: Any = fastavro.schemaless_reader(
        io.BytesIO(value[5:]), fastavro.parse_schema(VALUE), None, return_record_name=False
    )
    assert decoded["after"]["ORDER_CUTOFF"] == time(0, 0, 1)
    # 1,000 ms: zig-zag 2,000 as a varint, after the union branch 1 (0x02).
    assert b"\x02\xd0\x0f" in value


def test_a_time_with_a_fraction_of_a_millisecond_is_refused_with_its_value() -> None:
    with pytest.raises(CodecError) as caught:
        Encoder(VALUE_ID, VALUE).encode(
            change_envelope(
                _change(1, time(12, 0, 0, 1), 5),
                TableLayout(CUSTOMERS),
                TxInfo("U5", 5, 0),
                SourceInfo("p", "db"),
                order=(1, 1),
                ts_ms=0,
            )
        )
    assert str(caught.value) == (
        f"cannot encode a record with schema id {VALUE_ID}: ValueError: TIME 12:00:00.000001 "
        "has a fraction of a millisecond: time-millis holds whole milliseconds (a Db2 TIME "
        "whole seconds)"
    )


@settings(max_examples=300, deadline=None)
@given(cutoff=st.none() | st.times().map(lambda t: t.replace(microsecond=0)))
def test_any_db2_time_reads_back_the_same_from_either_encoding(cutoff: time | None) -> None:
    change = _change(3, cutoff, 9)
    codec = Codec(SCHEMAS.get)
    for _, value in (_captured(change), _captured_before_the_change(change)):
        assert codec.decode(value)["after"]["ORDER_CUTOFF"] == cutoff
