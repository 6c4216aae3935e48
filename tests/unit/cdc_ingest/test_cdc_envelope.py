"""Row changes → Debezium envelopes, keys and transaction markers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.envelope import (
    PublishedHead,
    SourceInfo,
    TableLayout,
    TxInfo,
    begin_marker,
    change_envelope,
    collection_counts,
    end_marker,
    epoch_ms,
    key_record,
    split_key_change,
    transaction_key,
    unit_events,
)
from event_contract.errors import RowShapeError

SOURCE = SourceInfo(name="offload", db="SOR", version="0.1.0")
COMMIT = datetime(2024, 5, 1, 12, 0, 0, 250_999)
COMMIT_MS = 1714564800250

ITEMS = Table(
    "SHIPPING",
    "ITEMS",
    (Column("ITEM_ID", Db2Type.CHAR, 6, nullable=False), Column("QTY", Db2Type.INTEGER)),
    ("ITEM_ID",),
)


def _row(
    order_id: int, status: str | None = "NEW", code: str | None = "AB        "
) -> dict[str, object]:
    return {
        "ORDER_ID": order_id,
        "REGION": "EU  ",
        "AMOUNT": Decimal("12.50"),
        "QTY": 1,
        "LINES": 2,
        "STATUS": status,
        "CODE": code,
        "ORDERED_ON": None,
        "CUTOFF": None,
        "UPDATED_AT": None,
        "WEIGHT": None,
    }


def test_epoch_ms_of_a_naive_utc_commit_time() -> None:
    assert epoch_ms(COMMIT) == COMMIT_MS
    assert epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999_999)) == -1


def test_an_insert_becomes_the_exact_debezium_envelope(orders: Table) -> None:
    change = RowChange("SHIPPING.ORDERS", Op.INSERT, 41, 2, None, _row(7))
    tx = TxInfo("uow-41", 41, COMMIT_MS)
    envelope = change_envelope(change, TableLayout(orders), tx, SOURCE, order=(3, 2), ts_ms=99)
    stripped = dict(_row(7), REGION="EU", CODE="AB")
    assert envelope == {
        "before": None,
        "after": stripped,
        "source": {
            "version": "0.1.0",
            "connector": "offload-db2",
            "name": "offload",
            "ts_ms": COMMIT_MS,
            "snapshot": "false",
            "db": "SOR",
            "schema": "SHIPPING",
            "table": "ORDERS",
            "commit_lsn": 41,
            "change_lsn": 2,
            "txId": "uow-41",
        },
        "op": "c",
        "ts_ms": 99,
        "transaction": {"id": "uow-41", "total_order": 3, "data_collection_order": 2},
    }


@pytest.mark.parametrize(
    ("op", "snapshot", "code"),
    [
        (Op.INSERT, "false", "c"),
        (Op.UPDATE, "false", "u"),
        (Op.DELETE, "false", "d"),
        (Op.INSERT, "true", "r"),
        (Op.INSERT, "last", "r"),
    ],
)
def test_op_codes(orders: Table, op: Op, snapshot: str, code: str) -> None:
    before = None if op is Op.INSERT else _row(7)
    after = None if op is Op.DELETE else _row(7)
    change = RowChange("SHIPPING.ORDERS", op, 41, 1, before, after)
    tx = TxInfo("uow-41", 41, COMMIT_MS, snapshot)  # type: ignore[arg-type]
    envelope = change_envelope(change, TableLayout(orders), tx, SOURCE, order=(1, 1), ts_ms=0)
    assert envelope["op"] == code
    assert envelope["source"]["snapshot"] == snapshot


def test_char_blanks_are_removed_and_varchar_blanks_kept(orders: Table) -> None:
    layout = TableLayout(orders)
    row = _row(7, status="NEW  ", code="  X  ")
    change = RowChange("SHIPPING.ORDERS", Op.UPDATE, 41, 1, row, row)
    envelope = change_envelope(change, layout, TxInfo("u", 41, 0), SOURCE, order=(1, 1), ts_ms=0)
    for image in (envelope["before"], envelope["after"]):
        assert (image["CODE"], image["STATUS"], image["REGION"]) == ("  X", "NEW  ", "EU")
    assert key_record(layout, row) == {"ORDER_ID": 7, "REGION": "EU"}


def test_a_row_with_a_column_the_catalog_lacks_is_refused(orders: Table) -> None:
    row = dict(_row(7), NOTE="x")
    change = RowChange("SHIPPING.ORDERS", Op.INSERT, 41, 1, None, row)
    with pytest.raises(RowShapeError) as caught:
        change_envelope(
            change, TableLayout(orders), TxInfo("u", 41, 0), SOURCE, order=(1, 1), ts_ms=0
        )
    assert str(caught.value) == (
        "row of table SHIPPING.ORDERS at LSN 41 has columns NOTE that the catalog does not "
        "declare; reload the table's catalog"
    )


def _uow(orders: Table) -> UnitOfWork:
    return UnitOfWork(
        lsn=50,
        uow_id="uow-50",
        commit_time=COMMIT,
        changes=(
            RowChange("SHIPPING.ORDERS", Op.INSERT, 50, 1, None, _row(1)),
            RowChange("SHIPPING.ITEMS", Op.INSERT, 50, 2, None, {"ITEM_ID": "A1    ", "QTY": 3}),
            RowChange("SHIPPING.ORDERS", Op.UPDATE, 50, 3, _row(1), _row(1, status="PAID")),
            RowChange("SHIPPING.ITEMS", Op.DELETE, 50, 4, {"ITEM_ID": "A1", "QTY": 3}, None),
        ),
    )


def test_unit_events_number_total_and_per_table_order(orders: Table) -> None:
    layouts = {"SHIPPING.ORDERS": TableLayout(orders), "SHIPPING.ITEMS": TableLayout(ITEMS)}
    events = list(unit_events(_uow(orders), layouts, SOURCE, ts_ms=5))
    assert [(e.table, e.value["op"], e.value["transaction"]) for e in events] == [
        ("SHIPPING.ORDERS", "c", {"id": "uow-50", "total_order": 1, "data_collection_order": 1}),
        ("SHIPPING.ITEMS", "c", {"id": "uow-50", "total_order": 2, "data_collection_order": 1}),
        ("SHIPPING.ORDERS", "u", {"id": "uow-50", "total_order": 3, "data_collection_order": 2}),
        ("SHIPPING.ITEMS", "d", {"id": "uow-50", "total_order": 4, "data_collection_order": 2}),
    ]
    assert [e.key for e in events] == [
        {"ORDER_ID": 1, "REGION": "EU"},
        {"ITEM_ID": "A1"},
        {"ORDER_ID": 1, "REGION": "EU"},
        {"ITEM_ID": "A1"},
    ]
    assert [e.value["source"]["change_lsn"] for e in events] == [1, 2, 3, 4]
    assert {e.value["source"]["ts_ms"] for e in events} == {COMMIT_MS}


def test_an_update_of_the_primary_key_is_a_delete_then_a_create(orders: Table) -> None:
    uow = UnitOfWork(
        60,
        "uow-60",
        COMMIT,
        (
            RowChange(
                "SHIPPING.ITEMS",
                Op.UPDATE,
                60,
                1,
                {"ITEM_ID": "A", "QTY": 1},
                {"ITEM_ID": "B", "QTY": 1},
            ),
        ),
    )
    layouts = {"SHIPPING.ITEMS": TableLayout(ITEMS)}
    events = list(unit_events(uow, layouts, SOURCE, ts_ms=5))
    assert [(e.key, e.value["op"], e.value["before"], e.value["after"]) for e in events] == [
        ({"ITEM_ID": "A"}, "d", {"ITEM_ID": "A", "QTY": 1}, None),
        ({"ITEM_ID": "B"}, "c", None, {"ITEM_ID": "B", "QTY": 1}),
    ]
    assert collection_counts(uow, layouts) == {"SHIPPING.ITEMS": 2}


def test_an_update_keeps_its_key_when_char_blanks_alone_differ_and_splits_otherwise(
    orders: Table,
) -> None:
    items, orders_layout = TableLayout(ITEMS), TableLayout(orders)

    def update(table: str, before: dict[str, object], after: dict[str, object]) -> RowChange:
        return RowChange(table, Op.UPDATE, 61, 1, before, after)

    padded = update("SHIPPING.ITEMS", {"ITEM_ID": "A     ", "QTY": 1}, {"ITEM_ID": "A", "QTY": 2})
    assert split_key_change(padded, items) == (padded,)
    same = update("SHIPPING.ITEMS", {"ITEM_ID": "A", "QTY": 1}, {"ITEM_ID": "A", "QTY": 2})
    assert split_key_change(same, items) == (same,)
    # A composite key: one of its columns changing is a key change.
    moved = update("SHIPPING.ORDERS", _row(1), {**_row(1), "REGION": "US"})
    assert [c.op for c in split_key_change(moved, orders_layout)] == [Op.DELETE, Op.INSERT]
    kept = update("SHIPPING.ORDERS", _row(1), {**_row(1), "STATUS": "SHIPPED"})
    assert split_key_change(kept, orders_layout) == (kept,)


def test_begin_and_end_markers(orders: Table) -> None:
    uow = _uow(orders)
    tx = TxInfo.of(uow)
    layouts = {"SHIPPING.ORDERS": TableLayout(orders), "SHIPPING.ITEMS": TableLayout(ITEMS)}
    assert transaction_key(tx) == {"id": "uow-50"}
    assert begin_marker(tx) == {
        "status": "BEGIN",
        "id": "uow-50",
        "ts_ms": COMMIT_MS,
        "commit_lsn": 50,
        "event_count": None,
        "data_collections": None,
        "part": None,
        "parts": 1,
    }
    assert end_marker(tx, collection_counts(uow, layouts), "telemetry", 2) == {
        "status": "END",
        "id": "uow-50",
        "ts_ms": COMMIT_MS,
        "commit_lsn": 50,
        "event_count": 4,
        "data_collections": [
            {"data_collection": "SHIPPING.ORDERS", "event_count": 2},
            {"data_collection": "SHIPPING.ITEMS", "event_count": 2},
        ],
        "part": "telemetry",
        "parts": 2,
    }


def test_the_published_head_is_the_newest_unit_every_group_ended() -> None:
    head = PublishedHead()
    head.end("U1", 1, 100, "a", 2)
    assert head.head is None  # group b has ended nothing yet
    head.end("U1", 1, 100, "b", 2)
    head.end("U2", 2, 200, "a", 2)
    head.end("U3", 3, 300, "a", 2)
    assert head.head == (1, 100)
    head.end("snapshot:SHIPPING.ORDERS:1", 1, 150, "b", 1)  # one part, not above b's stream
    assert head.head == (1, 100)  # and it does not make the deployment one of one part
    head.end("U2", 2, 200, "b", 2)
    head.end("U3", 3, 300, "b", 2)
    head.end("U4", 4, 400, "b", 2)
    assert head.head == (3, 300)


def test_ends_of_parts_no_longer_running_do_not_hold_the_head_back() -> None:
    head = PublishedHead()
    head.end("U1", 1, 100, None, 1)  # written before the deployment was split
    head.end("U2", 2, 200, "a", 2)
    head.end("U2", 2, 200, "b", 2)
    head.end("U3", 3, 300, "b", 2)
    assert head.head == (2, 200)
    unsplit = PublishedHead()
    unsplit.end("U1", 1, 100, None, 1)
    unsplit.end("U2", 2, 200, None, 1)
    assert unsplit.head == (2, 200)


def test_snapshot_chunks_are_read_events(orders: Table) -> None:
    chunk = UnitOfWork(
        70,
        "snapshot:SHIPPING.ORDERS:0",
        COMMIT,
        (RowChange("SHIPPING.ORDERS", Op.INSERT, 70, 1, None, _row(9)),),
    )
    layouts = {"SHIPPING.ORDERS": TableLayout(orders)}
    (event,) = unit_events(chunk, layouts, SOURCE, ts_ms=5, snapshot="last")
    assert (event.value["op"], event.value["source"]["snapshot"]) == ("r", "last")
    assert event.value["source"]["commit_lsn"] == 70
