"""Capture's column-at-a-time path (`bulk_events`, `UnitWriter.write_bulk`) against the
per-event path: the same messages on every topic, in the same order, byte for byte.

Random units of work of every Db2 type (NULLs, edge values, CHAR blanks, DECIMAL(31),
inserts, updates that keep or change the primary key, deletes) go into a simulated Db2 whose
updates come as U rows or as D + I pairs, on integer or z/OS binary log positions. The CD
rows are read twice, once with every unit as a `BulkUnit` and once converted row by row, in
pieces of a random size, and both batches are written through `capture_steps.write_changes`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Context, Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdc_ingest import capture_steps as steps
from cdc_ingest.capture_rows import BulkUnit
from cdc_ingest.positions import CapturePosition
from cdc_ingest.source import Position, Source, connect_sqlite
from cdc_ingest.table_codecs import TableCodecs
from cdc_ingest.unit_writer import UnitWriter
from config.sections import KafkaSettings
from db2.dialect import SQLITE
from event_contract.envelope import SourceInfo
from simulators.sor import SystemOfRecord
from tests.unit.cdc_ingest.test_table_codecs import MemorySchemaStore

DDL = (
    "CREATE TABLE SHIPPING.ALLTYPES (K1 INTEGER NOT NULL, K2 CHAR(6) NOT NULL,"
    " C_CHAR CHAR(10), C_VARCHAR VARCHAR(40), C_SMALL SMALLINT, C_INT INTEGER, C_BIG BIGINT,"
    " C_DEC31 DECIMAL(31,4), C_DEC5 DECIMAL(5,0), C_DEC18 DECIMAL(18,18), C_DEC19 DECIMAL(19,2),"
    " C_DATE DATE, C_TIME TIME, C_TS TIMESTAMP, C_DBL DOUBLE,"
    " N_DEC DECIMAL(9,2) NOT NULL, N_TS TIMESTAMP NOT NULL, N_VC VARCHAR(300) NOT NULL,"
    " PRIMARY KEY (K1, K2));"
    "CREATE TABLE SHIPPING.KEYED (KD DECIMAL(9,2) NOT NULL, KT TIMESTAMP NOT NULL,"
    " KC CHAR(4) NOT NULL, V INTEGER, PRIMARY KEY (KD, KT, KC))"
)
_EXACT = Context(prec=64)
_TS = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999))


def _dec(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    bound = 10**precision - 1
    return st.integers(-bound, bound).map(lambda v: Decimal(v).scaleb(-scale, _EXACT))


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | values


ROW = st.fixed_dictionaries(
    {
        "C_CHAR": _maybe(st.sampled_from(["", "A", "AB   ", " lead", "ünï ✓", "x" * 10, "  "])),
        "C_VARCHAR": _maybe(st.text(st.characters(codec="utf-8"), max_size=40)),
        "C_SMALL": _maybe(st.integers(-(2**15), 2**15 - 1)),
        "C_INT": _maybe(st.integers(-(2**31), 2**31 - 1)),
        "C_BIG": _maybe(st.integers(-(2**63), 2**63 - 1)),
        "C_DEC31": _maybe(_dec(31, 4)),
        "C_DEC5": _maybe(_dec(5, 0)),
        "C_DEC18": _maybe(_dec(18, 18)),
        "C_DEC19": _maybe(_dec(19, 2)),
        "C_DATE": _maybe(st.dates(date(1, 1, 1), date(9999, 12, 31))),
        "C_TIME": _maybe(st.times().map(lambda t: t.replace(microsecond=0))),
        "C_TS": _maybe(_TS),
        "C_DBL": _maybe(st.floats(allow_nan=False)),
        "N_DEC": _dec(9, 2),
        "N_TS": _TS,
        "N_VC": st.text(max_size=300),
    }
)
K2 = st.sampled_from(["A", "B  ", "é", "      "])
# (what, K2 of a new row, values): 0 insert, 1 update keeping the key, 2 update changing it,
# 3 delete, 4 a change of the other table
OPS = st.lists(st.tuples(st.integers(0, 4), K2, ROW), min_size=1, max_size=40)
SOURCE = SourceInfo("offload", "shipping")


Ops = Sequence[tuple[int, str, dict[str, Any]]]


def _build(path: Path, ops: Ops, flavor: str, pairs: bool) -> None:
    with SystemOfRecord.open(path, flavor=flavor, updates_as_delete_insert=pairs) as sor:
        with sor.unit_of_work() as unit:
            sor.run_script(unit, DDL)
            sor.register("SHIPPING.ALLTYPES")
            sor.register("SHIPPING.KEYED")
        alltypes, keyed = sor.table("SHIPPING.ALLTYPES"), sor.table("SHIPPING.KEYED")
        live: list[tuple[int, str]] = []
        number = 0
        with sor.unit_of_work() as unit:
            for what, k2, row in ops:
                number += 1
                if what == 4:
                    key = {"KD": row["N_DEC"], "KT": row["N_TS"], "KC": k2[:4]}
                    if unit.update(keyed, key, {"V": number}) == 0:
                        unit.insert(keyed, [{**key, "V": None}])
                elif what == 0 or not live:
                    unit.insert(alltypes, [{"K1": number, "K2": k2, **row}])
                    live.append((number, k2))
                elif what in (1, 2):
                    k1, old_k2 = live.pop(0)
                    values = dict(row) if what == 1 else {**row, "K1": number}
                    unit.update(alltypes, {"K1": k1, "K2": old_k2}, values)
                    live.append((values.get("K1", k1), old_k2))
                else:
                    k1, old_k2 = live.pop(0)
                    unit.delete(alltypes, {"K1": k1, "K2": old_k2})


@contextmanager
def _source(path: Path) -> Iterator[Source]:
    with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
        yield source


def _published(
    source: Source, bulk: bool, max_rows: int
) -> tuple[dict[str, list[Any]], UnitWriter]:
    """Every message of every topic, publishing the whole CD tables in batches of `max_rows`."""
    messages: dict[str, list[Any]] = {}
    codecs = TableCodecs(MemorySchemaStore(), KafkaSettings())
    writer = UnitWriter(codecs, SOURCE, lambda t, k, v: messages.setdefault(t, []).append((k, v)))
    state = CapturePosition()
    while True:
        after = Position(state.lsn, state.seq)
        batch = source.read_changes(after, max_rows, None, 1 if bulk else None)
        if not batch.units:
            return messages, writer
        assert all(isinstance(u, BulkUnit) == bulk for u in batch.units)
        state = steps.check_tables(state, batch, codecs, {})
        state = steps.write_changes(writer, state, batch.units, batch.position, batch.last_complete)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    OPS,
    st.sampled_from(["simulator", "zos"]),
    st.booleans(),
    st.integers(1, 50),
)
def test_bulk_units_give_the_messages_of_the_per_event_path(
    tmp_path_factory: Any, ops: Any, flavor: str, pairs: bool, max_rows: int
) -> None:
    path = tmp_path_factory.mktemp("bulk") / "sor.sqlite"
    _build(path, ops, flavor, pairs)
    with _source(path) as source, mock.patch("time.time_ns", return_value=1_767_000_000 * 10**9):
        per_event, _ = _published(source, False, max_rows)
        bulk, writer = _published(source, True, max_rows)
    assert writer.declined == {}
    assert writer.bulk_units > 0
    assert bulk.keys() == per_event.keys()
    for topic, expected in per_event.items():
        assert bulk[topic] == expected, topic


@pytest.mark.parametrize(
    ("assignment", "reason"),
    [
        # a TIMESTAMP without its fraction, as another program might write it: Python reads it
        ("C_TS = '2026-01-02T03:04:05'", "column C_TS: a value is not in the stored format"),
        # more fraction digits than the scale: Python rounds half-even, Arrow's cast refuses
        ("C_DEC5 = '2.5'", "column C_DEC5: a value Arrow does not read as decimal128(5, 0)"),
        # a BLOB in a CHAR column: str() of the bytes, which Arrow would take as text
        ("C_CHAR = X'41'", "column C_CHAR: values read as binary, not string"),
    ],
)
def test_a_value_the_column_path_cannot_copy_exactly_is_written_event_by_event(
    tmp_path: Path, assignment: str, reason: str
) -> None:
    path = tmp_path / "sor.sqlite"
    row = {
        "C_TS": datetime(2026, 1, 2, 3, 4, 5, 6), "C_TIME": time(1, 2, 3), "N_DEC": Decimal("1.50"),
        "N_TS": datetime(2026, 1, 1), "N_VC": "v",
    }  # fmt: skip
    _build(path, [(0, "A", row), (0, "B", row), (1, "", row)], "simulator", False)
    with SystemOfRecord.open(path) as sor:
        sor.conn.execute(f'UPDATE SHIPPING."CD_ALLTYPES" SET {assignment}')
        sor.conn.commit()
    with _source(path) as source, mock.patch("time.time_ns", return_value=1_767_000_000 * 10**9):
        per_event, _ = _published(source, False, 100)
        bulk, writer = _published(source, True, 100)
    assert writer.bulk_units == 0
    assert [r[: len(reason)] for r in writer.declined] == [reason]
    assert bulk == per_event
