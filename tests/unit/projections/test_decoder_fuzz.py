"""Property tests of the change-event decoder with bad input: random bytes, a wrong magic byte,
an unknown schema id, truncated Avro, a valid header with a garbage body, a valid record of
another table's schema, an envelope missing fields, on change, transaction and reference
topics. Each must raise `DecodeFailure` naming the record (what the dispatcher sends to the
error table and the DLQ), never another exception; and the valid records around them still
decode to what was written."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_contract import avro_types
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.codec import Codec
from event_contract.envelope import (
    SourceInfo,
    TableLayout,
    TxInfo,
    begin_marker,
    collection_counts,
    end_marker,
    unit_events,
)
from event_contract.reference_schemas import (
    DeclaredField,
    reference_key_schema,
    reference_value_schema,
)
from event_contract.registry import schema_id
from plumbing.topic_reader import Record
from projections.decoder import RecordDecoder
from projections.errors import DecodeFailure
from projections.events import DecodedChange, TxMarker
from projections.mirror import MirrorColumn, MirrorSpec, spec_from_table
from projections.topology import Topology

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is never a fluke of the seed
    suppress_health_check=[HealthCheck.too_slow],
)
PREFIX = "fz"
T0 = datetime(2024, 5, 1, 8, 0, 0)
ACCOUNTS = Table(
    "BANK",
    "ACCOUNTS",
    (
        Column("ACCOUNT_ID", Db2Type.INTEGER, nullable=False),
        Column("NAME", Db2Type.VARCHAR, 40),
        Column("BALANCE", Db2Type.DECIMAL, 15, 2, nullable=False),
    ),
    ("ACCOUNT_ID",),
)
TRANSFERS = Table(
    "BANK",
    "TRANSFERS",
    (
        Column("TRANSFER_ID", Db2Type.BIGINT, nullable=False),
        Column("FROM_ID", Db2Type.INTEGER, nullable=False),
        Column("AMOUNT", Db2Type.DECIMAL, 15, 2, nullable=False),
        Column("BOOKED_AT", Db2Type.TIMESTAMP, nullable=False),
    ),
    ("TRANSFER_ID",),
)
TOPICS = {t.qualified_name: f"{PREFIX}.bank.{t.name.lower()}" for t in (ACCOUNTS, TRANSFERS)}
TX_TOPIC = f"{PREFIX}.transaction"
REF_TOPIC = f"{PREFIX}.reference.ports"
LAYOUTS = {t.qualified_name: TableLayout(t) for t in (ACCOUNTS, TRANSFERS)}
SOURCE = SourceInfo(name=PREFIX, db="test")

_SCHEMAS: dict[int, Any] = {}


def _register(schema: dict[str, Any]) -> int:
    sid = schema_id(schema)
    _SCHEMAS[sid] = schema
    return sid


KEY_IDS = {t: _register(avro_types.key_schema(LAYOUTS[t].table, PREFIX)) for t in TOPICS}
VALUE_IDS = {t: _register(avro_types.envelope_schema(LAYOUTS[t].table, PREFIX)) for t in TOPICS}
TX_KEY_ID = _register(avro_types.transaction_key_schema(PREFIX))
TX_VALUE_ID = _register(avro_types.transaction_value_schema(PREFIX))
CODEC = Codec(_SCHEMAS.get)
TOPOLOGY = Topology(
    tx_topic=TX_TOPIC,
    change={TOPICS[t.qualified_name]: spec_from_table(t) for t in (ACCOUNTS, TRANSFERS)},
    reference={
        REF_TOPIC: MirrorSpec(
            "REFERENCE",
            "PORTS",
            (MirrorColumn("unlocode", "VARCHAR", False), MirrorColumn("name", "VARCHAR", True)),
            ("unlocode",),
        )
    },
)
DECODER = RecordDecoder(CODEC, TOPOLOGY)


def _encode(sid: int, record: dict[str, Any]) -> bytes:
    return CODEC.encode(sid, _SCHEMAS[sid], record)


_REF_FIELDS = [DeclaredField("unlocode", "string", False), DeclaredField("name", "string", True)]
REF_KEY_ID = _register(reference_key_schema(PREFIX, "ports", _REF_FIELDS[:1]))
REF_VALUE_ID = _register(reference_value_schema(PREFIX, "ports", _REF_FIELDS))


def record(topic: str, key: bytes | None, value: bytes | None, offset: int = 7) -> Record:
    return Record(topic, 0, offset, key, value, (), 1_700_000_000_000)


@st.composite
def changes(draw: st.DrawFn) -> tuple[str, bytes, bytes, dict[str, Any]]:
    """A valid change record: (table, key bytes, value bytes, the after image written)."""
    if draw(st.booleans()):
        table = ACCOUNTS.qualified_name
        row: dict[str, Any] = {
            "ACCOUNT_ID": draw(st.integers(0, 2**31 - 1)),
            "NAME": draw(st.none() | st.text(max_size=40)),
            "BALANCE": Decimal(draw(st.integers(-(10**13), 10**13))).scaleb(-2),
        }
    else:
        table = TRANSFERS.qualified_name
        row = {
            "TRANSFER_ID": draw(st.integers(0, 2**63 - 1)),
            "FROM_ID": draw(st.integers(-(2**31), 2**31 - 1)),
            "AMOUNT": Decimal(draw(st.integers(-(10**13), 10**13))).scaleb(-2),
            "BOOKED_AT": T0,
        }
    lsn = draw(st.integers(1, 2**40))
    uow = UnitOfWork(lsn, f"U{lsn}", T0, (RowChange(table, Op.INSERT, lsn, 1, None, row),))
    (event,) = unit_events(uow, LAYOUTS, SOURCE, 0)
    return table, _encode(KEY_IDS[table], event.key), _encode(VALUE_IDS[table], event.value), row


def _marker() -> bytes:
    row = {"ACCOUNT_ID": 1, "NAME": None, "BALANCE": Decimal("1.00")}
    uow = UnitOfWork(9, "U9", T0, (RowChange(ACCOUNTS.qualified_name, Op.INSERT, 9, 1, None, row),))
    return _encode(TX_VALUE_ID, end_marker(TxInfo.of(uow), collection_counts(uow, LAYOUTS)))


MARKER = _marker()
BEGIN = _encode(
    TX_VALUE_ID,
    begin_marker(TxInfo.of(UnitOfWork(9, "U9", T0, ()))),
)


def must_poison(rec: Record) -> DecodeFailure:
    """The record's decoding raises `DecodeFailure` naming it, and nothing else."""
    with pytest.raises(DecodeFailure) as caught:
        DECODER.decode(rec)
    failure = caught.value
    assert (failure.topic, failure.partition, failure.offset) == (rec.topic, 0, rec.offset)
    assert failure.reason
    return failure


def test_valid_records_of_each_topic_kind_decode() -> None:
    assert isinstance(DECODER.decode(record(TX_TOPIC, None, MARKER)), TxMarker)
    assert isinstance(DECODER.decode(record(TX_TOPIC, None, BEGIN)), TxMarker)
    key = _encode(REF_KEY_ID, {"unlocode": "NLRTM"})
    value = _encode(REF_VALUE_ID, {"unlocode": "NLRTM", "name": "Rotterdam"})
    ref = DECODER.decode(record(REF_TOPIC, key, value))
    assert isinstance(ref, DecodedChange) and ref.row == {"unlocode": "NLRTM", "name": "Rotterdam"}


@FUZZ
@given(change=changes())
def test_a_valid_change_decodes_to_what_was_written(
    change: tuple[str, bytes, bytes, dict[str, Any]],
) -> None:
    table, key, value, row = change
    event = DECODER.decode(record(TOPICS[table], key, value))
    assert isinstance(event, DecodedChange)
    assert (event.table, event.op, dict(event.row or {})) == (table, "c", row)


TARGETS = st.sampled_from([*TOPICS.values(), TX_TOPIC, REF_TOPIC])


@FUZZ
@given(topic=TARGETS, key=st.none() | st.binary(max_size=40), value=st.binary(max_size=200))
def test_random_bytes_are_poison(topic: str, key: bytes | None, value: bytes) -> None:
    rec = record(topic, key, value)
    try:
        DECODER.decode(rec)
    except DecodeFailure as exc:
        assert (exc.topic, exc.offset) == (topic, rec.offset)
    # Random bytes that happen to be a valid record are not poison; anything else raised
    # (KeyError, IndexError, ...) fails the test.


def _spoilers() -> dict[str, Callable[[Any, str, bytes, bytes], tuple[bytes, bytes]]]:
    def magic(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return k, bytes([draw(st.integers(1, 255))]) + v[1:]

    def unknown_id(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        sid = draw(st.integers(0, 2**32 - 1).filter(lambda i: i not in _SCHEMAS))
        return k, struct.pack(">bI", 0, sid) + v[5:]

    def truncated(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return k, v[: draw(st.integers(0, len(v) - 1))]

    def garbage_body(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return k, v[:5] + draw(st.binary(max_size=120))

    def trailing(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return k, v + draw(st.binary(min_size=1, max_size=8))

    def other_table(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return k, draw(changes().filter(lambda c: c[0] != table))[2]

    def bad_key(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        return draw(st.sampled_from([k[:-1], b"\x00" + k[1:2], MARKER, v])), v

    def missing_fields(draw: Any, table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        envelope = dict(CODEC.decode(v))
        where = draw(st.sampled_from(["source", "transaction", "after", "op"]))
        if where == "source":
            gone = draw(st.sampled_from(["commit_lsn", "change_lsn", "txId", "schema"]))
            envelope["source"] = {**envelope["source"], gone: None}
            envelope["transaction"] = None if gone == "txId" else envelope["transaction"]
        elif where == "transaction":
            envelope["transaction"] = None
            envelope["source"] = {**envelope["source"], "txId": None}
        elif where == "after":
            envelope["after"] = None  # an insert without its row
        else:
            envelope["op"] = draw(st.sampled_from(["x", "", "D"]))
        schema = _loose_envelope(table)
        return k, CODEC.encode(schema_id(schema), schema, envelope)

    return {f.__name__: f for f in (magic, unknown_id, truncated, garbage_body, trailing,
                                     other_table, bad_key, missing_fields)}  # fmt: skip


def _loose_envelope(table: str) -> dict[str, Any]:
    """The table's envelope schema with every field of `source` made nullable: a producer
    that does not follow the contract can write an envelope lacking them."""
    schema = avro_types.envelope_schema(LAYOUTS[table].table, PREFIX)
    loose = dict(schema, name=schema["name"] + "Loose")
    fields = []
    for field in schema["fields"]:
        if field["name"] == "source":
            rec = dict(field["type"], name="SourceLoose")
            rec["fields"] = [
                {"name": g["name"], "type": ["null", _plain(g["type"])], "default": None}
                for g in field["type"]["fields"]
            ]
            field = {**field, "type": rec}  # noqa: PLW2901
        fields.append(field)
    loose["fields"] = fields
    _register(loose)
    return loose


def _plain(t: Any) -> Any:
    if isinstance(t, list):
        return next(x for x in t if x != "null")
    return t


SPOILERS = _spoilers()


@FUZZ
@given(change=changes(), way=st.sampled_from(sorted(SPOILERS)), data=st.data())
def test_a_spoiled_change_record_is_poison_never_a_crash(
    change: tuple[str, bytes, bytes, dict[str, Any]], way: str, data: st.DataObject
) -> None:
    table, key, value, _ = change
    spoiled_key, spoiled_value = SPOILERS[way](data.draw, table, key, value)
    failure = must_poison(record(TOPICS[table], spoiled_key, spoiled_value))
    if way == "magic":
        assert "not in the Confluent wire format" in failure.reason
    elif way == "unknown_id":
        assert failure.reason.startswith("unknown schema id")
    elif way == "other_table":
        assert failure.reason.startswith("event of table ")


@FUZZ
@given(cut=st.integers(0, len(MARKER) - 1), body=st.binary(max_size=80))
def test_spoiled_transaction_markers_are_poison(cut: int, body: bytes) -> None:
    must_poison(record(TX_TOPIC, None, MARKER[:cut]))
    must_poison(record(TX_TOPIC, None, MARKER + body[:1] + b"\x01"))
    must_poison(record(TX_TOPIC, None, None))
    try:  # a garbage body: poison, unless it happens to be a valid marker
        DECODER.decode(record(TX_TOPIC, None, MARKER[:5] + body))
    except DecodeFailure as exc:
        assert exc.offset == 7


def test_an_envelope_naming_no_unit_of_work_is_poison() -> None:
    """Neither `transaction.id` nor `source.txId`: it was once decoded as unit "None"."""
    table = ACCOUNTS.qualified_name
    row = {"ACCOUNT_ID": 5, "NAME": "x", "BALANCE": Decimal("1.00")}
    uow = UnitOfWork(3, "U3", T0, (RowChange(table, Op.INSERT, 3, 1, None, row),))
    (event,) = unit_events(uow, LAYOUTS, SOURCE, 0)
    envelope = {**event.value, "transaction": None}
    envelope["source"] = {**envelope["source"], "txId": None}
    schema = _loose_envelope(table)
    value = CODEC.encode(schema_id(schema), schema, envelope)
    key = _encode(KEY_IDS[table], event.key)
    failure = must_poison(record(TOPICS[table], key, value))
    assert failure.reason == "envelope names no unit of work"
