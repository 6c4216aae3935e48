"""Db2 DDL in the simulated Db2: parsing, catalog, errors, and ADD COLUMN under capture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE
from event_contract.catalog import Column, Db2Type
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.errors import DdlError
from simulators.sor import SystemOfRecord


def test_create_table_parses_types_defaults_and_keys() -> None:
    statement = parse_statement(
        "CREATE TABLE X.T (A INT NOT NULL, B DEC(9,2) WITH DEFAULT, C CHARACTER VARYING(5) "
        "DEFAULT 'n', D TIMESTAMP(6) NOT NULL WITH DEFAULT CURRENT TIMESTAMP, E DOUBLE PRECISION,"
        " CONSTRAINT PK PRIMARY KEY (A, C)) IN DB.TS CCSID EBCDIC",
        "SHIPPING",
    )
    assert isinstance(statement, CreateTable)
    table = statement.table
    assert (table.schema, table.name, table.primary_key) == ("X", "T", ("A", "C"))
    assert table.columns == (
        Column("A", Db2Type.INTEGER, nullable=False),
        Column("B", Db2Type.DECIMAL, 9, 2, default="0"),
        Column("C", Db2Type.VARCHAR, 5, nullable=False, default="'n'"),
        Column("D", Db2Type.TIMESTAMP, nullable=False, default="CURRENT TIMESTAMP"),
        Column("E", Db2Type.DOUBLE),
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE T (A MONEY)",
         "table SHIPPING.T column A: unsupported Db2 type 'MONEY' (supported: CHAR, VARCHAR, "
         "SMALLINT, INTEGER, BIGINT, DECIMAL, DATE, TIME, TIMESTAMP, DOUBLE)"),
        ("CREATE TABLE T (A DECIMAL(32,2))",
         "table SHIPPING.T column A: DECIMAL(32,2) is out of range in 'DECIMAL(32,2)'"),
        ("CREATE TABLE T (A INT, PRIMARY KEY (B))",
         "table SHIPPING.T column B: is in the PRIMARY KEY but not declared"),
        ("CREATE TABLE T (A INT, A INT)", "table SHIPPING.T column A: is declared twice"),
        ("CREATE TABLE T (A INT DEFAULT 'x')",
         "table SHIPPING.T column A: a string DEFAULT does not fit type INTEGER"),
        ("CREATE TABLE T (A VARCHAR(10) FOR BIT DATA)",
         "table SHIPPING.T column A: type VARCHAR(10) FOR ... DATA is not supported"),
        ("CREATE TABLE T (A INT, FOREIGN KEY (A) REFERENCES U)",
         "table SHIPPING.T: FOREIGN constraints are not supported"),
        ("ALTER TABLE S.T DROP COLUMN A", "table S.T: expected ADD, found 'DROP'"),
        ("CREATE INDEX I ON T (A)",
         "expected CREATE TABLE, ALTER TABLE, DROP TABLE or CREATE SCHEMA"),
    ],
)  # fmt: skip
def test_ddl_errors_name_table_and_column(sql: str, message: str) -> None:
    with pytest.raises(DdlError) as info:
        parse_statement(sql, "SHIPPING")
    assert str(info.value) == message


def test_split_statements_respects_quotes_and_comments() -> None:
    text = "INSERT INTO T VALUES ('a;b'); -- one; two\nSELECT 1;;"
    assert split_statements(text) == ["INSERT INTO T VALUES ('a;b')", "SELECT 1"]


def test_catalog_records_db2_types(sor: SystemOfRecord) -> None:
    orders = sor.table("ORDERS")
    assert orders.column("AMOUNT").type_sql == "DECIMAL(13,2)"
    assert orders.column("STATUS").type_sql == "CHAR(10)"
    assert orders.column("CURRENCY").default == "'USD'"
    assert orders.primary_key == ("ORDER_ID",)
    assert sor.table("REEFER_TELEMETRY").primary_key == ("CONTAINER_ID", "READING_TS")


def test_existing_table_and_existing_schema_are_refused(sor: SystemOfRecord) -> None:
    with sor.unit_of_work() as unit:
        unit.execute("CREATE TABLE OTHER.T (A INT)")
    for sql, message in [
        ("CREATE TABLE ORDERS (A INT)", "table SHIPPING.ORDERS: already exists"),
        ("CREATE TABLE OTHER.T (B INT)", "table OTHER.T: already exists"),
        ("CREATE SCHEMA OTHER", "schema OTHER already exists"),
        ("CREATE SCHEMA SHIPPING", "schema SHIPPING already exists"),
        (
            "ALTER TABLE ORDERS ADD COLUMN NOTE VARCHAR(10) NOT NULL",
            "table SHIPPING.ORDERS column NOTE: a NOT NULL column added needs a DEFAULT",
        ),
    ]:
        with pytest.raises(DdlError) as info, sor.unit_of_work() as unit:
            unit.execute(sql)
        assert str(info.value) == message


def test_add_column_while_captured_is_followed_by_capture(
    sor_factory: Callable[..., SystemOfRecord], tmp_path: Path
) -> None:
    sor = sor_factory()
    source = Source(connect_sqlite(tmp_path / "sor.sqlite", "SHIPPING"), SQLITE, "SHIPPING")
    with sor.unit_of_work() as unit:
        unit.execute(
            "INSERT INTO VOYAGES VALUES ('V1', 'IMO9312049', 'NLRTM', 'SGSIN', "
            "'2024-01-01 00:00:00.000000', '2024-01-09 00:00:00.000000', NULL, NULL, 'PLANNED')"
        )
    before = source.read_changes(Position(0, 0), 100)
    assert "NOTE" not in before.tables["SHIPPING.VOYAGES"].columns[-1].name
    with sor.unit_of_work() as unit:
        unit.execute("ALTER TABLE SHIPPING.VOYAGES ADD COLUMN NOTE VARCHAR(40)")
    with sor.unit_of_work() as unit:
        unit.execute(
            "UPDATE VOYAGES SET NOTE = 'rerouted', STATUS = 'AT_SEA' WHERE VOYAGE_ID = 'V1'"
        )
    batch = source.read_changes(before.position, 100)
    (change,) = batch.units[-1].changes
    assert batch.tables["SHIPPING.VOYAGES"].columns[-1] == Column("NOTE", Db2Type.VARCHAR, 40)
    assert change.before is not None and change.before["NOTE"] is None
    assert change.after is not None and change.after["NOTE"] == "rerouted"
    source.close()
