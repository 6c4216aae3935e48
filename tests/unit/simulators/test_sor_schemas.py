"""A simulated Db2 subsystem with many schemas: CREATE SCHEMA, tables created in any schema,
Db2 SQL across them, registration and capture per schema, capture.tables patterns."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE
from db2.errors import SourceError
from event_contract.changes import Op
from simulators.errors import DdlError, StatementError
from simulators.sor import SystemOfRecord

DDL = """
CREATE SCHEMA ACCT;
CREATE TABLE ACCT.LEDGER (ID INTEGER NOT NULL PRIMARY KEY, AMOUNT DECIMAL(9,2) NOT NULL,
                          NOTE VARCHAR(20));
CREATE TABLE SALES.ITEMS (SKU CHAR(4) NOT NULL, QTY SMALLINT, PRIMARY KEY (SKU));
CREATE TABLE LOCAL_T (K INTEGER NOT NULL PRIMARY KEY)
"""


@pytest.fixture
def empty(sor_factory: Callable[..., SystemOfRecord]) -> SystemOfRecord:
    """An empty simulated Db2 (home schema SHIPPING) with the tables of DDL, all captured."""
    sor = sor_factory(shipping=False)
    with sor.unit_of_work() as unit:
        sor.run_script(unit, DDL)
        for name in ("ACCT.LEDGER", "SALES.ITEMS", "LOCAL_T"):
            assert sor.register(name)
    return sor


def _reader(tmp_path: Path) -> Source:
    return Source(connect_sqlite(tmp_path / "sor.sqlite", "SHIPPING"), SQLITE, "SHIPPING")


def test_an_empty_sor_has_no_tables_and_tables_go_to_their_schemas(
    sor_factory: Callable[..., SystemOfRecord], empty: SystemOfRecord
) -> None:
    assert sor_factory("other", shipping=False).all_tables() == []
    assert empty.all_tables() == ["ACCT.LEDGER", "SALES.ITEMS", "SHIPPING.LOCAL_T"]
    assert empty.table_names("ACCT") == ["LEDGER"] and empty.table_names() == ["LOCAL_T"]
    assert empty.captured_tables() == {"ACCT.LEDGER", "SALES.ITEMS", "SHIPPING.LOCAL_T"}
    assert empty.table("acct.ledger").schema == "ACCT"
    # a table of another schema is kept in the one file as "SCHEMA.TABLE", its CD table beside
    stored = {r[0] for r in empty.conn.execute('SELECT name FROM "SHIPPING".sqlite_master')}
    assert {"ACCT.LEDGER", "ACCT.CD_LEDGER", "SALES.CD_ITEMS", "LOCAL_T", "CD_LOCAL_T"} <= stored


def test_db2_sql_runs_across_schemas_with_db2_names_in_errors(empty: SystemOfRecord) -> None:
    with empty.unit_of_work() as unit:
        empty.run_script(
            unit,
            "INSERT INTO ACCT.LEDGER VALUES (1, 10.5, 'a'), (2, 3, NULL);"
            "INSERT INTO SALES.ITEMS VALUES ('AB', 2);"
            "UPDATE ACCT.LEDGER SET AMOUNT = AMOUNT * 2 WHERE ID = 1;"
            "UPDATE ACCT.LEDGER L SET NOTE = 'b' WHERE L.ID = 2",
        )
    with empty.unit_of_work() as unit:
        rows = empty.run_script(
            unit,
            "SELECT LEDGER.ID, L2.AMOUNT, I.QTY FROM ACCT.LEDGER "
            "JOIN ACCT.LEDGER L2 ON L2.ID = LEDGER.ID JOIN SALES.ITEMS I ON I.QTY = LEDGER.ID "
            "ORDER BY 1",
        )[0].rows
    assert rows == [(2, "3.00", 2)]
    for sql, reason in [
        ("INSERT INTO ACCT.LEDGER (ID, AMOUNT) VALUES (1, 1)",
         "ACCT.LEDGER already has a row with this primary key"),
        ("INSERT INTO ACCT.LEDGER (ID, NOTE) VALUES (9, 'x')",
         "column AMOUNT of ACCT.LEDGER cannot be NULL"),
        ("SELECT * FROM ACCT.NOPE", "ACCT.NOPE is an undefined name"),
        ("SELECT * FROM LEDGER", "SHIPPING.LEDGER is an undefined name"),
    ]:  # fmt: skip
        with pytest.raises(StatementError, match=reason), empty.unit_of_work() as unit:
            empty.run_script(unit, sql)


def test_ddl_on_another_schema_keeps_its_capture(empty: SystemOfRecord, tmp_path: Path) -> None:
    with empty.unit_of_work() as unit:
        empty.run_script(unit, "ALTER TABLE ACCT.LEDGER ADD COLUMN REF CHAR(3)")
        empty.run_script(unit, "INSERT INTO ACCT.LEDGER VALUES (5, 1.25, NULL, 'R1')")
        empty.run_script(unit, "DROP TABLE SALES.ITEMS")
    assert empty.captured_tables() == {"ACCT.LEDGER", "SHIPPING.LOCAL_T"}
    assert "SALES.CD_ITEMS" not in {
        r[0] for r in empty.conn.execute('SELECT name FROM "SHIPPING".sqlite_master')
    }
    with _reader(tmp_path) as source:
        batch = source.read_changes(Position(0, 0), 100)
    (change,) = [c for u in batch.units for c in u.changes]
    assert (change.table, change.op) == ("ACCT.LEDGER", Op.INSERT)
    assert change.after == {"ID": 5, "AMOUNT": Decimal("1.25"), "NOTE": None, "REF": "R1"}
    with pytest.raises(DdlError, match="schema ACCT already exists"), empty.unit_of_work() as unit:
        empty.run_script(unit, "CREATE SCHEMA ACCT")


def test_capture_reads_every_schema_and_the_patterns_choose(
    empty: SystemOfRecord, tmp_path: Path
) -> None:
    with empty.unit_of_work() as unit:
        empty.run_script(
            unit,
            "INSERT INTO ACCT.LEDGER VALUES (1, 1, NULL); INSERT INTO SALES.ITEMS VALUES ('A', 1);"
            "INSERT INTO LOCAL_T VALUES (1)",
        )
    with _reader(tmp_path) as source:
        assert source.all_tables() == empty.all_tables()

        def tables(patterns: list[str] | None) -> list[str]:
            batch = source.read_changes(Position(0, 0), 100, patterns)
            return [c.table for u in batch.units for c in u.changes]

        assert tables(None) == ["ACCT.LEDGER", "SALES.ITEMS", "SHIPPING.LOCAL_T"]
        assert tables(["*"]) == tables(None)
        assert tables(["acct.*"]) == ["ACCT.LEDGER"]
        assert tables(["SALES.ITEMS", "SHIPPING.*"]) == ["SALES.ITEMS", "SHIPPING.LOCAL_T"]
        assert tables(["NONE.*"]) == []
        with pytest.raises(SourceError, match=r"table ACCT\.NOPE is not captured"):
            tables(["ACCT.NOPE"])
