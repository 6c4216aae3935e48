"""The capture hot path's encoder gives exactly the bytes of the envelope dicts encoded."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cdc_ingest.event_writer import EventWriter
from event_contract.avro_types import envelope_schema, key_schema
from event_contract.catalog import Table
from event_contract.changes import Op, RowChange
from event_contract.codec import Codec
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope, key_record
from event_contract.errors import RowShapeError

SOURCE = SourceInfo("offload", "shipping")


def _row(rng: random.Random, nulls: bool) -> dict[str, Any]:
    def maybe(value: Any) -> Any:
        return None if nulls and rng.random() < 0.3 else value

    digits = rng.randint(1, 29)
    amount = Decimal(rng.randrange(-(10**digits), 10**digits)).scaleb(-2)
    return {
        "ORDER_ID": rng.choice([0, -(2**63), 2**63 - 1, rng.randrange(-(2**40), 2**40)]),
        "REGION": rng.choice(["EU", "NA  ", "APAC"]),
        "AMOUNT": maybe(rng.choice([amount, Decimal("9" * 29 + ".99"), Decimal("-0.01")])),
        "QTY": maybe(rng.choice([-32768, 32767, 0, rng.randrange(-300, 300)])),
        "LINES": maybe(rng.choice([-(2**31), 2**31 - 1, rng.randrange(10**6)])),
        "STATUS": maybe(rng.choice(["", "shipped", "ünïcödé ✓", "x" * 20])),
        "CODE": maybe(rng.choice(["A", "B  ", "          "])),
        "ORDERED_ON": maybe(date(1, 1, 1) + timedelta(days=rng.randrange(3_000_000))),
        "CUTOFF": maybe(rng.choice([time(0, 0), time(23, 59, 59), time(12, 1, 2)])),
        "UPDATED_AT": maybe(
            datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(315_537_897_599_999_999))
        ),
        "WEIGHT": maybe(rng.choice([0.0, -1.5e300, 3.141592653589793, float("inf")])),
    }


def _writers(table: Table) -> tuple[EventWriter, Any, Any]:
    codec = Codec(lambda _id: None)
    key_s, value_s = key_schema(table, "offload"), envelope_schema(table, "offload")
    key_enc, value_enc = codec.encoder(11, key_s), codec.encoder(12, value_s)
    return EventWriter(TableLayout(table), (11, key_s), (12, value_s)), key_enc, value_enc


@pytest.mark.parametrize("snapshot", ["false", "true", "last"])
def test_bytes_equal_the_encoded_envelope_for_every_type_and_op(
    orders: Table, snapshot: Any
) -> None:
    writer, key_enc, value_enc = _writers(orders)
    layout = TableLayout(orders)
    rng = random.Random(17)
    for i in range(600):
        tx = TxInfo(f"uow-{i // 7}", 10 + i // 7, 1_714_564_800_000 + i, snapshot)
        before, after = _row(rng, i % 2 == 0), _row(rng, i % 3 == 0)
        after.update({"ORDER_ID": before["ORDER_ID"], "REGION": before["REGION"]})
        op = [Op.INSERT, Op.UPDATE, Op.DELETE][i % 3]
        change = RowChange(
            "SHIPPING.ORDERS",
            op,
            tx.lsn,
            i % 7 + 1,
            None if op is Op.INSERT else before,
            None if op is Op.DELETE else after,
        )
        order, ts_ms = (i + 1, i // 2 + 1), 1_714_564_900_000 + i // 50
        key, value = writer.encode(change, tx, SOURCE, order, ts_ms)
        image = change.after if change.after is not None else change.before
        assert image is not None
        assert key == key_enc.encode(key_record(layout, image))
        expected = change_envelope(change, layout, tx, SOURCE, order=order, ts_ms=ts_ms)
        assert value == value_enc.encode(expected), (i, change)


def test_a_row_with_an_unknown_column_is_refused(orders: Table) -> None:
    writer, _, _ = _writers(orders)
    row = {**_row(random.Random(1), False), "EXTRA": 1}
    change = RowChange("SHIPPING.ORDERS", Op.INSERT, 5, 1, None, row)
    with pytest.raises(RowShapeError):
        writer.encode(change, TxInfo("u", 5, 0), SOURCE, (1, 1), 0)
