"""The compiled Avro reader: fastavro's values from the same bytes, and fields stepped over."""

from __future__ import annotations

import io
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_contract.avro_reader import compile_reader
from event_contract.avro_types import envelope_schema
from event_contract.catalog import Table
from event_contract.changes import Op, RowChange
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope

ROWS = st.fixed_dictionaries(
    {
        "ORDER_ID": st.integers(-(2**63), 2**63 - 1),
        "REGION": st.text(max_size=4),
        "AMOUNT": st.none()
        | st.decimals(places=2, min_value=-(10**29) + 1, max_value=10**29 - 1, allow_nan=False),
        "QTY": st.none() | st.integers(-32768, 32767),
        "LINES": st.none() | st.integers(-(2**31), 2**31 - 1),
        "STATUS": st.none() | st.text(max_size=200),
        "CODE": st.none() | st.text(max_size=10),
        "ORDERED_ON": st.none() | st.dates(),
        "CUTOFF": st.none() | st.times().map(lambda t: t.replace(microsecond=0)),
        "UPDATED_AT": st.none() | st.datetimes(),
        "WEIGHT": st.none() | st.floats(allow_nan=False),
    }
)
SKIP = frozenset({"before", "ts_ms", "source.version", "transaction.total_order"})


def _parsed(table: Table) -> tuple[Any, dict[str, Any]]:
    names: dict[str, Any] = {}
    return fastavro.parse_schema(envelope_schema(table, "p"), names), names


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.none() | ROWS, after=ROWS, lsn=st.integers(0, 2**62), ts=st.integers(-(2**40), 2**45)
)
def test_compiled_reader_reads_fastavros_values_and_skips_fields(
    orders: Table, before: dict[str, Any] | None, after: dict[str, Any], lsn: int, ts: int
) -> None:
    change = RowChange("SHIPPING.ORDERS", Op.UPDATE if before else Op.INSERT, lsn, 3, before, after)
    envelope = change_envelope(
        change,
        TableLayout(orders),
        TxInfo("u-1", lsn, ts),
        SourceInfo("p", "db"),
        order=(1, 2),
        ts_ms=ts,
    )
    parsed, names = _parsed(orders)
    out = io.BytesIO(b"hdr")
    out.seek(3)
    fastavro.schemaless_writer(out, parsed, envelope)
    data = out.getvalue()
    expected: Any = fastavro.schemaless_reader(io.BytesIO(data[3:]), parsed, None)
    read = compile_reader(parsed, names)
    assert read is not None
    assert read(data, 3) == (expected, len(data))
    skipping = compile_reader(parsed, names, SKIP)
    assert skipping is not None
    record, end = skipping(data, 3)
    assert end == len(data)
    assert set(expected) - set(record) == {"before", "ts_ms"}
    assert record["after"] == expected["after"]
    assert "version" not in record["source"] and "total_order" not in record["transaction"]
    assert record["source"]["commit_lsn"] == lsn


def test_a_schema_it_does_not_handle_gives_none() -> None:
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A"]}}],
    }
    names: dict[str, Any] = {}
    assert compile_reader(fastavro.parse_schema(schema, names), names) is None
