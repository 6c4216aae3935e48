"""Benchmark: build and encode change events of a typical 5-column table (no broker).

Prints envelopes/s for: building the envelope dict, encoding it (compiled writer), the
same with plain fastavro for comparison, encoding the key, and decoding (fastavro).

    .venv/bin/python benchmarks/bench_event_codec.py [N]
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import fastavro

from event_contract.avro_types import envelope_schema, key_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange
from event_contract.codec import Codec
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope, key_record

ORDERS = Table(
    "SHIPPING",
    "ORDERS",
    (
        Column("ORDER_ID", Db2Type.BIGINT, nullable=False),
        Column("CUSTOMER_ID", Db2Type.CHAR, 10, nullable=False),
        Column("AMOUNT", Db2Type.DECIMAL, 11, 2),
        Column("STATUS", Db2Type.VARCHAR, 20),
        Column("UPDATED_AT", Db2Type.TIMESTAMP),
    ),
    ("ORDER_ID",),
)


def _rate(label: str, count: int, action: Callable[[int], object]) -> None:
    start = time.perf_counter()
    for i in range(count):
        action(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {count / elapsed:>12,.0f} /s  ({elapsed / count * 1e6:.2f} µs each)")


def main(count: int) -> None:
    """Run each measurement `count` times and print the rates."""
    layout = TableLayout(ORDERS)
    source = SourceInfo("offload", "SOR")
    tx = TxInfo("uow-1", 123_456, 1_714_564_800_000)
    schema = envelope_schema(ORDERS, "offload")
    codec = Codec(lambda _id: None)
    encoder = codec.encoder(1, schema)
    key_encoder = codec.encoder(2, key_schema(ORDERS, "offload"))
    parsed = fastavro.parse_schema(schema)

    def row(i: int) -> dict[str, object]:
        return {
            "ORDER_ID": 1_000_000 + i,
            "CUSTOMER_ID": "C0001     ",
            "AMOUNT": Decimal("1234.50"),
            "STATUS": "SHIPPED",
            "UPDATED_AT": datetime(2024, 5, 1, 12, 0, 0, i % 1_000_000),
        }

    changes = [
        RowChange("SHIPPING.ORDERS", Op.UPDATE, 123_456, 1, row(i), row(i)) for i in range(1000)
    ]

    def envelope(i: int) -> dict[str, object]:
        return change_envelope(changes[i % 1000], layout, tx, source, order=(i + 1, i + 1), ts_ms=1)

    envelopes = [envelope(i) for i in range(1000)]
    encoded = [encoder.encode(e) for e in envelopes]

    def fastavro_encode(i: int) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, envelopes[i % 1000])
        return out.getvalue()

    print(
        f"envelope of {len(ORDERS.columns)} columns (an update: before and after), "
        f"{len(encoded[0])} bytes"
    )
    _rate("build envelope dict", count, envelope)
    _rate("encode envelope (compiled writer)", count, lambda i: encoder.encode(envelopes[i % 1000]))
    _rate("encode envelope (plain fastavro)", count // 4, fastavro_encode)
    _rate(
        "encode key",
        count,
        lambda i: key_encoder.encode(key_record(layout, changes[i % 1000].after or {})),
    )
    _rate(
        "build + encode key and value",
        count,
        lambda i: (
            key_encoder.encode(key_record(layout, changes[i % 1000].after or {})),
            encoder.encode(envelope(i)),
        ),
    )
    _rate("decode envelope (fastavro)", count // 2, lambda i: codec.decode(encoded[i % 1000]))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
