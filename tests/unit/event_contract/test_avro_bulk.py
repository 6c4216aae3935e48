"""Property tests of `avro_bulk` against the per-record encoder (`Encoder.encode`): the same
bytes for every record, over the whole int64 range, decimals of every size up to 18 digits and
strings with multi-byte UTF-8."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from event_contract.avro_bulk import Column, IntColumn, StringColumn
from event_contract.codec import Encoder

INT64 = st.integers(-(2**63), 2**63 - 1)
SCHEMA = {
    "type": "record",
    "name": "Row",
    "fields": [
        {"name": "n", "type": "long"},
        {"name": "s", "type": "string"},
        {
            "name": "d",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 3},
        },
        {"name": "i", "type": "int"},
    ],
}


@st.composite
def rows(draw: st.DrawFn) -> list[tuple[int, str, int, int]]:
    unscaled = st.integers(-(10**18) + 1, 10**18 - 1)
    small = st.integers(-(2**31), 2**31 - 1)
    row = st.tuples(INT64, st.text(max_size=12), unscaled, small)
    return draw(st.lists(row, max_size=20))


def string_column(texts: list[str]) -> StringColumn:
    encoded = [t.encode() for t in texts]
    width = max((len(e) for e in encoded), default=0)
    data = np.zeros((len(texts), width), dtype=np.uint8)
    keep = np.zeros((len(texts), width), dtype=np.bool_)
    for n, e in enumerate(encoded):
        data[n, : len(e)] = np.frombuffer(e, dtype=np.uint8)
        keep[n, : len(e)] = True
    return StringColumn(data, keep, np.array([len(e) for e in encoded], dtype=np.int64))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rows())
def test_bulk_writer_writes_what_the_encoder_writes(rows: list[tuple[int, str, int, int]]) -> None:
    encoder = Encoder(42, SCHEMA)
    writer = encoder.bulk_writer()
    assert writer is not None
    columns: dict[str, Column] = {
        "n": IntColumn(np.array([r[0] for r in rows], dtype=np.int64)),
        "s": string_column([r[1] for r in rows]),
        "d": IntColumn(np.array([r[2] for r in rows], dtype=np.int64)),
        "i": IntColumn(np.array([r[3] for r in rows], dtype=np.int64)),
    }
    want = [
        encoder.encode({"n": n, "s": s, "d": Decimal(d).scaleb(-3), "i": i}) for n, s, d, i in rows
    ]
    assert writer.write(columns, len(rows)) == want


def test_unsupported_schemas_have_no_bulk_writer() -> None:
    nullable = {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "long"]}]}
    wide = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "bytes", "logicalType": "decimal", "precision": 19}}
        ],
    }
    dated = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "double"}]}
    for schema in (nullable, wide, dated):
        assert Encoder(1, schema).bulk_writer() is None
