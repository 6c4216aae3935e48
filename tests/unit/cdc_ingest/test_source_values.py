"""Values written to the simulated Db2 come back from the capture reader exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE
from simulators.errors import StatementError
from simulators.sor import SystemOfRecord

DDL = """
CREATE TABLE SHIPPING.SAMPLES (
    ID INTEGER NOT NULL PRIMARY KEY,
    BIG DECIMAL(31,0), FINE DECIMAL(31,31), MONEY DECIMAL(31,2), SMALL DECIMAL(5,2),
    CODE CHAR(10), LABEL VARCHAR(20), D DATE, T TIME, TS TIMESTAMP,
    S SMALLINT, I INTEGER, B BIGINT, F DOUBLE
)
"""
VALUES: list[dict[str, object]] = [
    {
        "BIG": Decimal("9" * 31),
        "FINE": Decimal("0." + "9" * 31),
        "MONEY": Decimal("-" + "9" * 29 + ".99"),
        "SMALL": Decimal("-999.99"),
        "CODE": "AB",
        "LABEL": "trailing  ",
        "D": date(1, 1, 1),
        "T": time(0, 0, 0),
        "TS": datetime(2024, 2, 29, 23, 59, 59, 999999),
        "S": -32768,
        "I": 2**31 - 1,
        "B": -(2**63),
        "F": 0.1,
    },
    {
        "BIG": Decimal("-" + "9" * 31),
        "FINE": Decimal("-0." + "0" * 30 + "1"),
        "MONEY": Decimal("0.10"),
        "SMALL": Decimal("0.01"),
        "CODE": "ABCDEFGHIJ",
        "LABEL": "",
        "D": date(9999, 12, 31),
        "T": time(23, 59, 59),
        "TS": datetime(1970, 1, 1, 0, 0, 0, 1),
        "S": 32767,
        "I": -(2**31),
        "B": 2**63 - 1,
        "F": -1.5e300,
    },
    {
        "BIG": None,
        "FINE": None,
        "MONEY": None,
        "SMALL": None,
        "CODE": None,
        "LABEL": None,
        "D": None,
        "T": None,
        "TS": None,
        "S": None,
        "I": None,
        "B": None,
        "F": None,
    },
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SystemOfRecord, Source]]:
    path = tmp_path / "sor.sqlite"
    with SystemOfRecord.open(path) as sor:
        with sor.unit_of_work() as unit:
            unit.execute(DDL)
            sor.register("SAMPLES")
        with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
            yield sor, source


def test_every_type_survives_write_and_capture_read(store: tuple[SystemOfRecord, Source]) -> None:
    sor, source = store
    table = sor.table("SAMPLES")
    rows = [{"ID": i, **values} for i, values in enumerate(VALUES, start=1)]
    with sor.unit_of_work() as unit:
        unit.insert(table, rows)
    batch = source.read_changes(Position(0, 0), 100)
    captured = [c.after for uow in batch.units for c in uow.changes]
    expected = [{**row, "CODE": row["CODE"], "LABEL": row["LABEL"]} for row in rows]
    assert captured == expected
    for got, want in zip(captured, expected, strict=True):
        assert got is not None
        for name, value in want.items():
            assert type(got[name]) is type(value), name
            if isinstance(value, Decimal):  # same digits and exponent, not just equal
                assert Decimal(str(got[name])).as_tuple() == value.as_tuple(), name
    chunk = source.read_chunk("SAMPLES", None, 10)
    assert list(chunk.rows) == expected and chunk.done and chunk.lsn == unit.lsn


def test_decimal_comes_back_at_its_declared_scale(store: tuple[SystemOfRecord, Source]) -> None:
    sor, source = store
    with sor.unit_of_work() as unit:
        unit.execute("INSERT INTO SHIPPING.SAMPLES (ID, MONEY, SMALL) VALUES (1, '12.5', 7)")
    (change,) = source.read_changes(Position(0, 0), 10).units[-1].changes
    assert change.after is not None
    assert str(change.after["MONEY"]) == "12.50" and str(change.after["SMALL"]) == "7.00"


def test_char_values_compare_and_read_without_trailing_blanks(
    store: tuple[SystemOfRecord, Source],
) -> None:
    sor, source = store
    with sor.unit_of_work() as unit:
        unit.execute("INSERT INTO SHIPPING.SAMPLES (ID, CODE) VALUES (1, 'AB        ')")
        found = unit.execute("SELECT ID FROM SHIPPING.SAMPLES WHERE CODE = 'AB'").fetchall()
    assert found == [(1,)]
    (change,) = source.read_changes(Position(0, 0), 10).units[-1].changes
    assert change.after is not None and change.after["CODE"] == "AB"


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("INSERT INTO SHIPPING.SAMPLES (ID, MONEY) VALUES (1, 12.5)", "MONEY is DECIMAL(31,2)"),
        ("INSERT INTO SHIPPING.SAMPLES (ID, CODE) VALUES (1, 'ABCDEFGHIJK')", "CODE is CHAR(10)"),
        ("INSERT INTO SHIPPING.SAMPLES (ID, S) VALUES (1, 32768)", "S is SMALLINT"),
        ("INSERT INTO SHIPPING.SAMPLES (ID, D) VALUES (1, '2024-02-30')", "D is DATE"),
        (
            "INSERT INTO SHIPPING.SAMPLES (ID, TS) VALUES (1, '2024-01-01 10:00:00')",
            "TS is TIMESTAMP",
        ),
    ],
)
def test_values_that_would_not_be_exact_are_refused(
    store: tuple[SystemOfRecord, Source], sql: str, constraint: str
) -> None:
    sor, _ = store
    with pytest.raises(StatementError) as info, sor.unit_of_work() as unit:
        unit.execute(sql)
    assert str(info.value) == (
        "statement failed, unit of work rolled back: "
        f"CHECK constraint failed: {constraint}\n  {sql}"
    )


def test_a_float_bound_to_decimal_is_refused(store: tuple[SystemOfRecord, Source]) -> None:
    sor, _ = store
    expected = r"column MONEY is DECIMAL\(31,2\): pass a Decimal"
    with pytest.raises(TypeError, match=expected), sor.unit_of_work() as unit:
        unit.insert(sor.table("SAMPLES"), [{"ID": 1, "MONEY": 0.1}])
