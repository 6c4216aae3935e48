"""Change events decoded in bulk (`RecordDecoder.decode_many`, `event_contract.avro_arrow`)
against the record-by-record decoder: the same events, the same values, the same mirror batch
(`applier.arrow_batch`); and every record the bulk path cannot vouch for (bytes left over, a
short record, garbage, a broken contract) left to the record-by-record decoder, which names
it, with no event of the batch lost or shifted."""

from __future__ import annotations

import pickle
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_contract import avro_types
from event_contract.avro_arrow import ArrowDecoder, plain_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.codec import Codec
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope, unit_events
from event_contract.registry import schema_id
from plumbing.topic_reader import Record
from projections.applier import arrow_batch
from projections.decoder import BULK_MIN, RecordDecoder
from projections.errors import DecodeFailure
from projections.events import ArrowRow, DecodedChange
from projections.mirror import spec_from_table
from projections.topology import Topology

PREFIX = "bk"
T0 = datetime(2024, 5, 1, 8, 0, 0)
EVERY_TYPE = Table(
    "SHOP",
    "ITEMS",
    (
        Column("SKU", Db2Type.CHAR, 8, nullable=False),
        Column("SEEN_AT", Db2Type.TIMESTAMP, nullable=False),
        Column("LINE", Db2Type.SMALLINT, nullable=False),
        Column("NAME", Db2Type.VARCHAR, 60),
        Column("QTY", Db2Type.INTEGER),
        Column("BIG", Db2Type.BIGINT),
        Column("PRICE", Db2Type.DECIMAL, 31, 4),
        Column("SMALL_PRICE", Db2Type.DECIMAL, 5, 2),
        Column("ON_DAY", Db2Type.DATE),
        Column("AT_TIME", Db2Type.TIME),
        Column("WEIGHT", Db2Type.DOUBLE),
        Column("CODE", Db2Type.CHAR, 3),
    ),
    ("SKU", "SEEN_AT", "LINE"),
)
TOPIC = f"{PREFIX}.shop.items"
TX_TOPIC = f"{PREFIX}.transaction"
LAYOUTS = {EVERY_TYPE.qualified_name: TableLayout(EVERY_TYPE)}
SOURCE = SourceInfo(name=PREFIX, db="test")
_SCHEMAS: dict[int, Any] = {}


def _register(schema: dict[str, Any]) -> int:
    sid = schema_id(schema)
    _SCHEMAS[sid] = schema
    return sid


KEY_ID = _register(avro_types.key_schema(EVERY_TYPE, PREFIX))
VALUE_ID = _register(avro_types.envelope_schema(EVERY_TYPE, PREFIX))
CODEC = Codec(_SCHEMAS.get)
SPEC = spec_from_table(EVERY_TYPE)
TOPOLOGY = Topology(tx_topic=TX_TOPIC, change={TOPIC: SPEC}, reference={})
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MILLIS = st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
"""Db2 TIME values travel as time-millis."""
KEYS = st.tuples(
    st.text(st.characters(codec="utf-8", exclude_characters=" "), min_size=1, max_size=8),
    st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)),
    st.integers(-(2**15), 2**15 - 1),
)


@st.composite
def rows(draw: st.DrawFn, key: tuple[str, datetime, int]) -> dict[str, Any]:
    """An ITEMS row with `key`, every other column drawn (NULL among them)."""

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    return {
        "SKU": key[0],
        "SEEN_AT": key[1],
        "LINE": key[2],
        "NAME": maybe(st.text(max_size=60)),
        "QTY": maybe(st.integers(-(2**31), 2**31 - 1)),
        "BIG": maybe(st.integers(-(2**63), 2**63 - 1)),
        "PRICE": maybe(st.integers(-(10**31) + 1, 10**31 - 1).map(lambda n: Decimal(f"{n}E-4"))),
        "SMALL_PRICE": maybe(st.integers(-99999, 99999).map(lambda n: Decimal(f"{n}E-2"))),
        "ON_DAY": maybe(st.dates(date(1, 1, 1), date(9999, 12, 31))),
        "AT_TIME": maybe(
            st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
        ),
        "WEIGHT": maybe(st.floats(allow_nan=False)),
        "CODE": maybe(st.text(st.characters(codec="ascii", exclude_characters=" "), max_size=3)),
    }


@st.composite
def unit_records(draw: st.DrawFn) -> list[Record]:
    """The change records of one unit of work on ITEMS: inserts, updates and deletes."""
    keys = draw(st.lists(KEYS, min_size=BULK_MIN, max_size=24, unique=True))
    lsn = draw(st.integers(1, 2**40))
    changes = []
    for seq, key in enumerate(keys, start=1):
        op = draw(st.sampled_from([Op.INSERT, Op.UPDATE, Op.DELETE]))
        before = None if op is Op.INSERT else draw(rows(key))
        after = None if op is Op.DELETE else draw(rows(key))
        changes.append(RowChange(EVERY_TYPE.qualified_name, op, lsn, seq, before, after))
    uow = UnitOfWork(lsn, f"U{lsn}", T0, tuple(changes))
    return [
        Record(TOPIC, 0, offset, CODEC.encode(KEY_ID, _SCHEMAS[KEY_ID], e.key),
               CODEC.encode(VALUE_ID, _SCHEMAS[VALUE_ID], e.value), (), 1_700_000_000_000)
        for offset, e in enumerate(unit_events(uow, LAYOUTS, SOURCE, 0))
    ]  # fmt: skip


def _plain(decoder: RecordDecoder, records: list[Record]) -> list[DecodedChange]:
    events = [decoder.decode(r) for r in records]
    assert all(isinstance(e, DecodedChange) for e in events)
    return events  # type: ignore[return-value]


@PROPERTY
@given(records=unit_records())
def test_bulk_decoding_gives_the_record_by_record_events_and_mirror_batch(
    records: list[Record],
) -> None:
    decoder = RecordDecoder(CODEC, TOPOLOGY)
    plain = _plain(decoder, records)
    bulk = decoder.decode_many(records)
    assert sorted(bulk) == list(range(len(records)))  # every record decoded in bulk
    events = [bulk[i] for i in range(len(records))]
    assert events == plain
    for event, expected in zip(events, plain, strict=True):
        assert event.key == expected.key
        assert (event.row is None) == (expected.row is None)
        if event.row is not None:
            assert isinstance(event.row, ArrowRow)
            assert dict(event.row) == dict(expected.row or {})
            assert {k: type(v) for k, v in event.row.items()} == {
                k: type(v) for k, v in (expected.row or {}).items()
            }
    assert arrow_batch(SPEC, events).equals(arrow_batch(SPEC, plain))


def _items(n: int) -> list[Record]:
    rows_ = [
        {"SKU": f"S{i}", "SEEN_AT": T0, "LINE": i, "NAME": f"n{i}", "QTY": i,
         "BIG": 2**40 + i, "PRICE": Decimal("1.2345") * i, "SMALL_PRICE": Decimal("0.01") * i,
         "ON_DAY": date(2024, 1, 1 + i % 28), "AT_TIME": time(13, 45, 30, 123000), "WEIGHT": 0.5,
         "CODE": "AB"}
        for i in range(n)
    ]  # fmt: skip
    changes = tuple(
        RowChange(EVERY_TYPE.qualified_name, Op.INSERT, 9, i + 1, None, row)
        for i, row in enumerate(rows_)
    )
    uow = UnitOfWork(9, "U9", T0, changes)
    return [
        Record(TOPIC, 0, i, CODEC.encode(KEY_ID, _SCHEMAS[KEY_ID], e.key),
               CODEC.encode(VALUE_ID, _SCHEMAS[VALUE_ID], e.value), (), 0)
        for i, e in enumerate(unit_events(uow, LAYOUTS, SOURCE, 0))
    ]  # fmt: skip


def _with_value(record: Record, value: bytes) -> Record:
    return Record(record.topic, record.partition, record.offset, record.key, value, (), 0)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda v: v + b"\x00\x02",  # bytes left over: would shift every record after it
        lambda v: v[:-2],  # short: polars would read into the next record, or panic
        lambda v: v[:5] + b"\xff" * (len(v) - 5),  # garbage after a valid header
    ],
    ids=["bytes-left-over", "short", "garbage"],
)
def test_a_batch_polars_cannot_vouch_for_is_decoded_record_by_record(spoil: Any) -> None:
    decoder = RecordDecoder(CODEC, TOPOLOGY)
    records = _items(20)
    plain = _plain(decoder, records)
    records[7] = _with_value(records[7], spoil(records[7].value))
    bulk = decoder.decode_many(records)
    assert bulk == {}  # the whole group goes back to the record-by-record decoder
    with pytest.raises(DecodeFailure) as caught:
        decoder.decode(records[7])
    assert caught.value.offset == 7
    assert [decoder.decode(r) for i, r in enumerate(records) if i != 7] == [
        e for i, e in enumerate(plain) if i != 7
    ]


def _envelope(row: dict[str, Any]) -> dict[str, Any]:
    change = RowChange(EVERY_TYPE.qualified_name, Op.INSERT, 9, 1, None, row)
    layout = TableLayout(EVERY_TYPE)
    return dict(change_envelope(change, layout, TxInfo("U9", 9, 0), SOURCE, order=(1, 1), ts_ms=0))


def test_records_that_break_the_contract_are_left_to_the_record_by_record_decoder() -> None:
    decoder = RecordDecoder(CODEC, TOPOLOGY)
    records = _items(20)
    row = {c.name: None for c in EVERY_TYPE.columns} | {"SKU": "X", "SEEN_AT": T0, "LINE": 1}
    unknown_op = _envelope(row) | {"op": "x"}
    delete_with_after = _envelope(row) | {"op": "d"}
    wrong_table = _envelope(row)
    wrong_table["source"] = dict(wrong_table["source"]) | {"table": "OTHER"}
    for i, envelope in ((3, unknown_op), (5, delete_with_after), (11, wrong_table)):
        records[i] = _with_value(records[i], CODEC.encode(VALUE_ID, _SCHEMAS[VALUE_ID], envelope))
    records[13] = Record(TOPIC, 0, 13, None, records[13].value, (), 0)  # no key
    bulk = decoder.decode_many(records)
    assert sorted(bulk) == [i for i in range(20) if i not in (3, 5, 11, 13)]
    for i in (3, 5, 11, 13):
        with pytest.raises(DecodeFailure) as caught:
            decoder.decode(records[i])
        assert caught.value.offset == i
    for i, event in bulk.items():
        assert event == decoder.decode(records[i])


def test_small_groups_and_other_topics_are_not_decoded_in_bulk() -> None:
    decoder = RecordDecoder(CODEC, TOPOLOGY)
    assert decoder.decode_many(_items(BULK_MIN - 1)) == {}
    elsewhere = [Record("bk.unknown", 0, r.offset, r.key, r.value, (), 0) for r in _items(20)]
    assert decoder.decode_many(elsewhere) == {}


def test_an_arrow_row_pickles_to_the_dict_it_equals() -> None:
    decoder = RecordDecoder(CODEC, TOPOLOGY)
    event = decoder.decode_many(_items(10))[4]
    assert isinstance(event.row, ArrowRow)
    restored = pickle.loads(pickle.dumps(event))
    assert type(restored.row) is dict
    assert restored == event and restored.row == dict(event.row)
    assert event.row["AT_TIME"] == time(13, 45, 30, 123000)
    assert event.row.get("MISSING") is None
    with pytest.raises(KeyError):
        event.row["MISSING"]


def test_named_types_are_written_out_and_defaults_dropped_for_polars() -> None:
    schema = avro_types.envelope_schema(EVERY_TYPE, PREFIX)
    plain = plain_schema(schema)
    before, after = plain["fields"][0]["type"][1], plain["fields"][1]["type"][1]
    assert isinstance(after, dict) and after["fields"] == before["fields"]
    assert after["name"] != before["name"]
    assert all("default" not in f for f in plain["fields"])
    assert ArrowDecoder(schema).decode([]) is None
