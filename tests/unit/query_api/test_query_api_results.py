"""Answers are rendered a column at a time; the values must be exactly those `jsonable` gives
each value on its own (the plain implementation), whatever the types and values."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Context, Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from query_api.results import jsonable, table_as_dicts


def _plain(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def _decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal | None]:
    """DECIMAL(precision, scale) values: an unscaled integer of at most `precision` digits."""
    digits = 10**precision - 1
    unscaled = st.integers(-digits, digits)
    exact = Context(prec=precision + 2)
    return st.none() | unscaled.map(lambda n: Decimal(n).scaleb(-scale, exact))


COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "amount": (pa.decimal128(13, 2), _decimals(13, 2)),
    "tiny": (pa.decimal128(20, 9), _decimals(20, 9)),
    "whole": (pa.decimal128(31, 0), _decimals(31, 0)),
    "at": (
        pa.timestamp("us"),
        st.none() | st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)),
    ),
    "day": (pa.date32(), st.none() | st.dates(date(1, 1, 1), date(9999, 12, 31))),
    "clock": (pa.time64("us"), st.none() | st.times()),
    "ratio": (pa.float64(), st.none() | st.floats(allow_nan=True, allow_infinity=True)),
    "count": (pa.int64(), st.none() | st.integers(-(2**63), 2**63 - 1)),
    "name": (pa.string(), st.none() | st.text(max_size=12)),
    "flag": (pa.bool_(), st.none() | st.booleans()),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 20))
    arrays = {}
    for name in names:
        kind, values = COLUMNS[name]
        arrays[name] = pa.array([draw(values) for _ in range(rows)], type=kind)
    return pa.table(arrays)


@settings(max_examples=300, deadline=None)
@given(tables())
def test_column_rendering_equals_the_value_by_value_rendering(table: pa.Table) -> None:
    assert table_as_dicts(table) == _plain(table)


def test_the_renderings_of_each_kind() -> None:
    table = pa.table(
        {
            "amount": pa.array([Decimal("-0.05"), Decimal("1234.50")], pa.decimal128(13, 2)),
            "at": pa.array([datetime(2025, 3, 1, 8), datetime(2025, 3, 1, 8, 0, 0, 5)]),
            "clock": pa.array([time(8, 0), time(8, 0, 0, 500000)], pa.time64("us")),
            "ratio": pa.array([float("nan"), float("-inf")]),
        }
    )
    assert table_as_dicts(table) == [
        {"amount": "-0.05", "at": "2025-03-01T08:00:00", "clock": "08:00:00", "ratio": "nan"},
        {
            "amount": "1234.50",
            "at": "2025-03-01T08:00:00.000005",
            "clock": "08:00:00.500000",
            "ratio": "-Infinity",
        },
    ]
