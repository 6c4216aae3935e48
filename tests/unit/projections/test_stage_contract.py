"""The `Stage` contract, run against both stages: `MemoryStage` and `DuckDBStage`.

A stage holds the events of a unit of work too large to keep in memory until its END marker
arrives; the applier then reads them back in chunks inside the unit's transaction. Whichever
stage the writer uses, the events must come back whole, in the order they were put, per unit,
and a dropped unit must be gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

import projections.stage
from projections.assembler import MemoryStage, Stage
from projections.events import ArrowRow, RowBlock
from projections.stage import DuckDBStage
from projections.store import open_database


@pytest.fixture(params=["memory", "duckdb"])
def stage(request: pytest.FixtureRequest) -> Iterator[Stage]:
    """Each implementation of `Stage` in turn (DuckDB's on a fresh projection database)."""
    if request.param == "memory":
        yield MemoryStage()
        return
    con = open_database(":memory:")
    try:
        yield DuckDBStage(con)
    finally:
        con.close()


def _orders(kit: SimpleNamespace, lsn: int, ids: range) -> list[Any]:
    """Change events of SHIPPING.ORDERS in unit of work `U<lsn>`, one per order id."""
    return [
        kit.make_event(
            "SHIPPING.ORDERS",
            {"ORDER_ID": i, "AMOUNT": kit.D("1234.50"), "STATUS": "LOADED", "CREATED_AT": kit.T0},
            lsn,
            seq=i,
            offset=100 + i,
        )
        for i in ids
    ]


def test_events_come_back_in_put_order_in_chunks_of_at_most_size(
    stage: Stage, kit: SimpleNamespace
) -> None:
    events = _orders(kit, 5, range(1, 8))
    stage.put("U5", events[:3])
    stage.put("U5", events[3:])
    assert list(stage.chunks("U5", 3)) == [events[0:3], events[3:6], events[6:7]]
    assert list(stage.chunks("U5", 7)) == [events]
    assert list(stage.chunks("U5", 100)) == [events]


def test_chunks_can_be_read_again_until_dropped(stage: Stage, kit: SimpleNamespace) -> None:
    events = _orders(kit, 5, range(1, 4))
    stage.put("U5", events)
    assert [e for chunk in stage.chunks("U5", 2) for e in chunk] == events
    assert [e for chunk in stage.chunks("U5", 2) for e in chunk] == events


def test_units_are_kept_apart(stage: Stage, kit: SimpleNamespace) -> None:
    first, second = _orders(kit, 5, range(1, 5)), _orders(kit, 6, range(10, 13))
    stage.put("U5", first[:2])
    stage.put("U6", second[:1])
    stage.put("U5", first[2:])
    stage.put("U6", second[1:])
    assert list(stage.chunks("U5", 10)) == [first]
    assert list(stage.chunks("U6", 10)) == [second]


def test_an_unknown_or_empty_unit_has_no_chunks(stage: Stage, kit: SimpleNamespace) -> None:
    assert list(stage.chunks("U404", 5)) == []
    stage.put("U7", [])
    assert list(stage.chunks("U7", 5)) == []


def test_drop_forgets_one_unit_only(stage: Stage, kit: SimpleNamespace) -> None:
    first, second = _orders(kit, 5, range(1, 4)), _orders(kit, 6, range(10, 12))
    stage.put("U5", first)
    stage.put("U6", second)
    stage.drop("U5")
    assert list(stage.chunks("U5", 10)) == []
    assert list(stage.chunks("U6", 10)) == [second]
    stage.drop("U5")
    stage.drop("U404")
    again = _orders(kit, 5, range(20, 22))
    stage.put("U5", again)
    assert list(stage.chunks("U5", 10)) == [again]


def test_values_come_back_exactly(stage: Stage, kit: SimpleNamespace) -> None:
    row = {
        "ORDER_ID": 2**62,
        "AMOUNT": kit.D("0.10"),
        "STATUS": "ÄÖÜ ✓",
        "REQUESTED_DATE": kit.T0.date(),
        "CREATED_AT": kit.T0.replace(microsecond=123456),
        "UPDATED_AT": None,
    }
    changed = kit.make_event("SHIPPING.ORDERS", row, 9, seq=3, offset=41, partition=2)
    deleted = kit.make_event("SHIPPING.ORDERS", None, 9, seq=4, key=(7,), offset=42)
    stage.put("U9", [changed, deleted])
    ((back_changed, back_deleted),) = stage.chunks("U9", 2)
    assert (back_changed, back_deleted) == (changed, deleted)
    assert back_changed.row is not None
    assert str(back_changed.row["AMOUNT"]) == "0.10"
    assert type(back_changed.row["REQUESTED_DATE"]) is type(row["REQUESTED_DATE"])
    assert (back_deleted.op, back_deleted.row, back_deleted.key) == ("d", None, (7,))


def test_images_decoded_in_bulk_come_back_equal(
    stage: Stage, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After images kept in Arrow blocks (two blocks, rows taken out of order, beside a dict
    image and a delete) come back equal to the dicts they stand for, with the same types,
    converted in more than one part."""
    monkeypatch.setattr(projections.stage, "_CONVERT_EVENTS", 4)
    rows = [
        {
            "ORDER_ID": i,
            "AMOUNT": kit.D("0.10") * i,
            "STATUS": None if i % 3 else "ÄÖÜ ✓",
            "REQUESTED_DATE": kit.T0.date(),
            "CREATED_AT": kit.T0.replace(microsecond=i),
        }
        for i in range(6)
    ]
    amount = pa.decimal128(31, 2)
    first = RowBlock(pa.Table.from_pylist(rows[:4]).cast(_schema(amount)))
    second = RowBlock(pa.Table.from_pylist(rows[4:]).cast(_schema(amount)))
    images: list[Any] = [
        ArrowRow(first, 2),
        ArrowRow(second, 1),
        rows[1],
        ArrowRow(first, 0),
        None,
        ArrowRow(second, 0),
    ]
    events = [
        kit.make_event("SHIPPING.ORDERS", None, 9, seq=n, key=(n,), offset=n)._replace(
            op="d" if image is None else "u", row=image
        )
        for n, image in enumerate(images)
    ]
    stage.put("U9", events)
    (back,) = stage.chunks("U9", 10)
    expected = [rows[2], rows[5], rows[1], rows[0], None, rows[4]]
    assert [e.row for e in back] == expected
    assert back == events
    for event, row in zip(back, expected, strict=True):
        if row is not None:
            assert event.row is not None
            assert {k: type(v) for k, v in event.row.items()} == {
                k: type(v) for k, v in row.items()
            }


def _schema(amount: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("ORDER_ID", pa.int64()),
            ("AMOUNT", amount),
            ("STATUS", pa.string()),
            ("REQUESTED_DATE", pa.date32()),
            ("CREATED_AT", pa.timestamp("us")),
        ]
    )
