"""Db2 conformance of the simulated Db2: statements as `offload sor exec` runs them, each with
the effect or answer Db2 for z/OS gives (DEC15 decimal arithmetic, truncation on assignment,
NULLs ordered high), or the refusal, with its exact message and nothing changed.

Extend CASES whenever a user finds a statement that behaves differently from Db2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from db2.dialect import SQLITE
from simulators.errors import SorError, StatementError, UnsupportedSql
from simulators.sor import SystemOfRecord

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456)
T0 = datetime(2024, 1, 2, 3, 4, 5, 600000)
CUSTOMERS = [
    {"CUSTOMER_ID": 1, "NAME": "Acme", "COUNTRY": "US", "CREDIT_LIMIT": Decimal("1000.00"),
     "ORDER_CUTOFF": time(17, 0), "CREATED_AT": T0},
    {"CUSTOMER_ID": 2, "NAME": "Bolt", "COUNTRY": "NL", "CREDIT_LIMIT": Decimal("0.10"),
     "ORDER_CUTOFF": None, "CREATED_AT": T0},
]  # fmt: skip
ORDERS = [
    # (ORDER_ID, CUSTOMER_ID, AMOUNT, STATUS): amounts whose float sum is not exact, and whose
    # text order ('0.10' < '1234.56' < '99.50') is not their numeric order.
    (1, 1, "0.10", "CREATED"),
    (2, 1, "0.20", "LOADED"),
    (3, 2, "1234.56", "CREATED"),
    (4, 1, "99.50", "CREATED"),
]


@dataclass(frozen=True)
class Answer:
    """The last statement answers these columns and rows."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Stored:
    """After the unit of work, `query` (SQLite, on the stored forms) answers `rows`."""

    query: str
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Refused:
    """The script fails with this error and message, and nothing changes."""

    error: type[SorError]
    message: str


def _failed(statement: str, reason: str) -> Refused:
    return Refused(
        StatementError, f"statement failed, unit of work rolled back: {reason}\n  {statement}"
    )


ORDER_2 = "SELECT AMOUNT, UPDATED_AT, REQUESTED_DATE FROM SHIPPING.ORDERS WHERE ORDER_ID = 2"
CASES: list[tuple[str, str, Answer | Stored | Refused]] = [
    # --- the statements of issue 12 ----------------------------------------------------------
    ("decimal literal assigned at the column's scale",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = 10.5 WHERE ORDER_ID = 2",
     Stored(ORDER_2, [("10.50", "2024-01-02 03:04:05.600000", "2024-03-01")])),
    ("decimal arithmetic is exact",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = AMOUNT * 2 WHERE ORDER_ID = 2",
     Stored(ORDER_2, [("0.40", "2024-01-02 03:04:05.600000", "2024-03-01")])),
    ("CURRENT TIMESTAMP and CURRENT DATE",
     "UPDATE SHIPPING.ORDERS SET UPDATED_AT = CURRENT TIMESTAMP, REQUESTED_DATE = CURRENT DATE "
     "WHERE ORDER_ID = 2",
     Stored(ORDER_2, [("0.20", "2024-05-06 07:08:09.123456", "2024-05-06")])),
    ("FETCH FIRST n ROWS ONLY, ordered by decimal value",
     "SELECT ORDER_ID, AMOUNT FROM SHIPPING.ORDERS ORDER BY AMOUNT DESC FETCH FIRST 2 ROWS ONLY",
     Answer(("ORDER_ID", "AMOUNT"), [(3, "1234.56"), (4, "99.50")])),
    ("DECIMAL(string, p, s) truncates",
     "SELECT DECIMAL('12.345', 13, 2) FROM SYSIBM.SYSDUMMY1",
     Answer(("1",), [("12.34",)])),
    ("SUM over a DECIMAL column is exact",
     "SELECT SUM(AMOUNT) FROM SHIPPING.ORDERS WHERE ORDER_ID IN (1, 2)",
     Answer(("1",), [("0.30",)])),
    ("special registers",
     "SELECT CURRENT TIMESTAMP, CURRENT DATE, CURRENT TIME FROM SYSIBM.SYSDUMMY1",
     Answer(("1", "2", "3"), [("2024-05-06 07:08:09.123456", "2024-05-06", "07:08:09")])),
    # --- arithmetic and aggregates at Db2's result types (DEC15) -------------------------------
    ("decimal result precision and scale",
     "SELECT AMOUNT, AMOUNT * 2, AMOUNT + 0.001, AMOUNT - 1, AMOUNT / 3, -AMOUNT "
     "FROM SHIPPING.ORDERS WHERE ORDER_ID = 3",
     Answer(("AMOUNT", "2", "3", "4", "5", "6"),
            [("1234.56", "2469.12", "1234.561", "1233.56", "411.5200", "-1234.56")])),
    ("aggregates",
     "SELECT SUM(AMOUNT), AVG(AMOUNT), MIN(AMOUNT), MAX(AMOUNT), COUNT(*), "
     "COUNT(DISTINCT CUSTOMER_ID), SUM(QUANTITY), AVG(QUANTITY) FROM SHIPPING.ORDERS",
     Answer(("1", "2", "3", "4", "5", "6", "7", "8"),
            [("1334.36", "333.5900", "0.10", "1234.56", 4, 2, 10, 2)])),
    ("integer division truncates toward zero",
     "SELECT 7 / 2, -7 / 2, MOD(-7, 2), 7 / 2.0 FROM SYSIBM.SYSDUMMY1",
     Answer(("1", "2", "3", "4"), [(3, -3, -1, "3.500000000")])),
    ("a DOUBLE constant makes the arithmetic floating point",
     "SELECT 1.5E0 * 2 FROM SYSIBM.SYSDUMMY1",
     Answer(("1",), [(3.0,)])),
    ("grouping, HAVING and ordering by an aggregate",
     "SELECT C.NAME, SUM(O.AMOUNT) AS TOTAL FROM SHIPPING.ORDERS O "
     "JOIN SHIPPING.CUSTOMERS C ON C.CUSTOMER_ID = O.CUSTOMER_ID "
     "GROUP BY C.NAME HAVING COUNT(*) > 0 ORDER BY TOTAL DESC",
     Answer(("NAME", "TOTAL"), [("Bolt", "1234.56"), ("Acme", "99.80")])),
    ("NULL sorts high",
     "SELECT CUSTOMER_ID FROM SHIPPING.CUSTOMERS ORDER BY ORDER_CUTOFF",
     Answer(("CUSTOMER_ID",), [(1,), (2,)])),
    ("decimal comparisons by value",
     "SELECT ORDER_ID FROM SHIPPING.ORDERS WHERE AMOUNT > 9.5 AND AMOUNT BETWEEN 50 AND 100",
     Answer(("ORDER_ID",), [(4,)])),
    ("character comparison ignores trailing blanks; LIKE does not",
     "SELECT COUNT(*) FROM SHIPPING.ORDERS WHERE STATUS = 'CREATED' AND STATUS NOT LIKE 'CREATED'",
     Answer(("1",), [(3,)])),
    ("IN subquery and correlated EXISTS",
     "SELECT NAME FROM SHIPPING.CUSTOMERS C WHERE CUSTOMER_ID IN (SELECT CUSTOMER_ID FROM "
     "SHIPPING.ORDERS) AND EXISTS (SELECT 1 FROM SHIPPING.ORDERS O WHERE O.CUSTOMER_ID = "
     "C.CUSTOMER_ID AND O.AMOUNT > 1000)",
     Answer(("NAME",), [("Bolt",)])),
    ("LIMIT and OFFSET, EXCEPT, WITH UR",
     "SELECT ORDER_ID FROM SHIPPING.ORDERS EXCEPT SELECT CUSTOMER_ID FROM SHIPPING.CUSTOMERS "
     "ORDER BY 1 LIMIT 1 OFFSET 1 WITH UR",
     Answer(("ORDER_ID",), [(4,)])),
    ("CASE, COALESCE and a UNION",
     "SELECT ORDER_ID, CASE WHEN AMOUNT > 100 THEN 'BIG' ELSE 'SMALL' END AS SIZE "
     "FROM SHIPPING.ORDERS WHERE ORDER_ID < 3 UNION ALL SELECT CUSTOMER_ID, "
     "COALESCE(NULL, 'NONE') FROM SHIPPING.CUSTOMERS WHERE CUSTOMER_ID = 2 ORDER BY 1, 2",
     Answer(("ORDER_ID", "SIZE"), [(1, "SMALL"), (2, "NONE"), (2, "SMALL")])),
    # --- scalar functions and casts ----------------------------------------------------------
    ("casting functions",
     "SELECT CHAR(AMOUNT), VARCHAR(AMOUNT), INTEGER(AMOUNT), DECIMAL(AMOUNT, 5, 1), "
     "CAST(AMOUNT AS DECIMAL(3,0)), CAST(QUANTITY AS CHAR(3)), CAST('42' AS INTEGER), "
     "DOUBLE(AMOUNT) FROM SHIPPING.ORDERS WHERE ORDER_ID = 4",
     Answer(("1", "2", "3", "4", "5", "6", "7", "8"),
            [("99.50          ", "99.50", 99, "99.5", "99", "4  ", 42, 99.5)])),
    ("datetime functions",
     "SELECT DATE('2024-02-29'), TIME('10.11.12'), TIMESTAMP('2024-02-29-10.11.12'), "
     "CHAR(O.CREATED_AT), CHAR(REQUESTED_DATE, USA), CHAR(ORDER_CUTOFF, ISO), YEAR(O.CREATED_AT), "
     "MONTH(REQUESTED_DATE), DAY(REQUESTED_DATE), HOUR(ORDER_CUTOFF), DAYS('0001-01-02') "
     "FROM SHIPPING.ORDERS O JOIN SHIPPING.CUSTOMERS C ON C.CUSTOMER_ID = O.CUSTOMER_ID "
     "WHERE ORDER_ID = 1",
     Answer(tuple(str(i) for i in range(1, 12)),
            [("2024-02-29", "10:11:12", "2024-02-29 10:11:12.000000",
              "2024-01-02-03.04.05.600000", "03/01/2024", "17.00.00", 2024, 3, 1, 17, 2)])),
    ("string functions",
     "SELECT SUBSTR(STATUS, 1, 4), SUBSTR(NAME, 2), TRIM(STATUS), RTRIM(STATUS), "
     "LENGTH(STATUS), LENGTH(NAME), UPPER(NAME), LCASE(NAME), NAME || '-' || COUNTRY, "
     "CONCAT(NAME, 'x'), LEFT(NAME, 2), LOCATE('m', NAME), REPLACE(NAME, 'c', 'k'), "
     "COALESCE(SEGMENT, 'X'), VALUE(NULL, 1), NULLIF(COUNTRY, 'US') "
     "FROM SHIPPING.ORDERS O JOIN SHIPPING.CUSTOMERS C ON C.CUSTOMER_ID = O.CUSTOMER_ID "
     "WHERE ORDER_ID = 1",
     Answer(tuple(str(i) for i in range(1, 17)),
            [("CREA", "cme", "CREATED", "CREATED", 10, 4, "ACME", "acme", "Acme-US",
              "Acmex", "Ac", 3, "Akme", "STANDARD  ", 1, None)])),
    ("ABS, MOD and ROUND on decimals",
     "SELECT ABS(-AMOUNT), MOD(AMOUNT, 1), ROUND(AMOUNT, 1), ROUND(2.5, 0) "
     "FROM SHIPPING.ORDERS WHERE ORDER_ID = 3",
     Answer(("1", "2", "3", "4"), [("1234.56", "0.56", "1234.60", "3.0")])),
    # --- assignment -------------------------------------------------------------------------
    ("INSERT truncates the fraction and takes the column default",
     "INSERT INTO SHIPPING.ORDERS (ORDER_ID, CUSTOMER_ID, PRODUCT_ID, QUANTITY, AMOUNT, "
     "ORIGIN_PORT, DESTINATION_PORT, REQUESTED_DATE, STATUS, CREATED_AT, UPDATED_AT) VALUES "
     "(5, 2, 'P003', 1, 19.999, 'NLRTM', 'USNYC', '12/24/2024', 'CREATED', "
     "'2024-12-24-10.00.00', CURRENT TIMESTAMP)",
     Stored("SELECT AMOUNT, CURRENCY, REQUESTED_DATE, CREATED_AT FROM SHIPPING.ORDERS "
            "WHERE ORDER_ID = 5",
            [("19.99", "USD", "2024-12-24", "2024-12-24 10:00:00.000000")])),
    ("INSERT from a query, DEFAULT in VALUES",
     "INSERT INTO SHIPPING.CONTAINERS SELECT 'MSCU' || TRIM(CHAR(ORDER_ID)) || '000000', '22G1', "
     "QUANTITY * 1000, 'AVAILABLE', NULL FROM SHIPPING.ORDERS WHERE ORDER_ID = 1; "
     "INSERT INTO SHIPPING.CONTAINERS VALUES ('MSCU9000000', DEFAULT, 5, 'LOADED', 'NLRTM')",
     Stored("SELECT * FROM SHIPPING.CONTAINERS ORDER BY 1",
            [("MSCU1000000", "22G1", 1000, "AVAILABLE", None),
             ("MSCU9000000", "45R1", 5, "LOADED", "NLRTM")])),
    ("DELETE by decimal value",
     "DELETE FROM SHIPPING.ORDERS WHERE AMOUNT < 1",
     Stored("SELECT ORDER_ID FROM SHIPPING.ORDERS ORDER BY 1", [(3,), (4,)])),
    ("DDL then DML in one unit of work",
     "CREATE TABLE SHIPPING.T_NUM (ID INTEGER NOT NULL, D DECIMAL(31,31), D0 DECIMAL(31,0), "
     "PRIMARY KEY (ID)); "
     "INSERT INTO SHIPPING.T_NUM VALUES (1, 0.1, 9999999999999999999999999999999)",
     Stored("SELECT D, D0 FROM SHIPPING.T_NUM",
            [("0.1000000000000000000000000000000", "9999999999999999999999999999999")])),
    # --- what Db2 refuses --------------------------------------------------------------------
    ("overflow on assignment names the column",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = 99999999999999.99 WHERE ORDER_ID = 2",
     _failed("UPDATE SHIPPING.ORDERS SET AMOUNT = 99999999999999.99 WHERE ORDER_ID = 2",
             "column AMOUNT of SHIPPING.ORDERS: 99999999999999.99 does not fit DECIMAL(13,2) "
             "(SQLCODE -406, SQLSTATE 22003)")),
    ("overflow of a computed value",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = AMOUNT * 1000000000 WHERE ORDER_ID = 3",
     _failed("UPDATE SHIPPING.ORDERS SET AMOUNT = AMOUNT * 1000000000 WHERE ORDER_ID = 3",
             "column AMOUNT of SHIPPING.ORDERS: 1234560000000.00 does not fit DECIMAL(13,2) "
             "(SQLCODE -406, SQLSTATE 22003)")),
    ("division by zero",
     "SELECT AMOUNT / 0 FROM SHIPPING.ORDERS",
     _failed("SELECT AMOUNT / 0 FROM SHIPPING.ORDERS",
             "division by zero on DECIMAL data (SQLCODE -802, SQLSTATE 22012)")),
    ("NULL into a NOT NULL column",
     "UPDATE SHIPPING.ORDERS SET STATUS = NULL WHERE ORDER_ID = 1",
     _failed("UPDATE SHIPPING.ORDERS SET STATUS = NULL WHERE ORDER_ID = 1",
             "column STATUS of SHIPPING.ORDERS cannot be NULL (SQLCODE -407, SQLSTATE 23502)")),
    ("a duplicate primary key",
     "UPDATE SHIPPING.ORDERS SET ORDER_ID = 1 WHERE ORDER_ID = 2",
     _failed("UPDATE SHIPPING.ORDERS SET ORDER_ID = 1 WHERE ORDER_ID = 2",
             "SHIPPING.ORDERS already has a row with this primary key "
             "(SQLCODE -803, SQLSTATE 23505)")),
    ("a string too long for its column",
     "UPDATE SHIPPING.ORDERS SET STATUS = 'IN_TRANSIT_X' WHERE ORDER_ID = 1",
     _failed("UPDATE SHIPPING.ORDERS SET STATUS = 'IN_TRANSIT_X' WHERE ORDER_ID = 1",
             "column STATUS of SHIPPING.ORDERS: the string 'IN_TRANSIT_X' is too long for "
             "CHAR(10) (SQLCODE -404, SQLSTATE 22001)")),
    ("an invalid date",
     "UPDATE SHIPPING.ORDERS SET REQUESTED_DATE = '2024-02-30' WHERE ORDER_ID = 1",
     _failed("UPDATE SHIPPING.ORDERS SET REQUESTED_DATE = '2024-02-30' WHERE ORDER_ID = 1",
             "column REQUESTED_DATE of SHIPPING.ORDERS: '2024-02-30' is not a valid date "
             "(SQLCODE -181, SQLSTATE 22007)")),
    ("a string that is not a number",
     "SELECT DECIMAL('12,5x', 5, 2) FROM SYSIBM.SYSDUMMY1",
     _failed("SELECT DECIMAL('12,5x', 5, 2) FROM SYSIBM.SYSDUMMY1",
             "the string '12,5x' is not acceptable to the DECIMAL function "
             "(SQLCODE -420, SQLSTATE 22018)")),
    ("an unknown column",
     "UPDATE SHIPPING.ORDERS SET PRICE = 1",
     _failed("UPDATE SHIPPING.ORDERS SET PRICE = 1",
             "PRICE is not a column of SHIPPING.ORDERS (SQLCODE -206, SQLSTATE 42703)")),
    ("an unknown table",
     "SELECT * FROM SHIPPING.PRICES",
     _failed("SELECT * FROM SHIPPING.PRICES",
             "SHIPPING.PRICES is an undefined name (SQLCODE -204, SQLSTATE 42704)")),
    # --- what the simulated Db2 cannot execute -----------------------------------------------
    ("MERGE",
     "MERGE INTO SHIPPING.ORDERS T USING SHIPPING.ORDERS S ON T.ORDER_ID = S.ORDER_ID "
     "WHEN MATCHED THEN UPDATE SET AMOUNT = 1",
     Refused(UnsupportedSql, "MERGE is not supported by the simulated Db2")),
    ("a refused statement stops the statements before it too",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = 1 WHERE ORDER_ID = 1; TRUNCATE TABLE SHIPPING.ORDERS",
     Refused(UnsupportedSql, "TRUNCATE is not supported by the simulated Db2")),
    ("a labeled duration",
     "UPDATE SHIPPING.ORDERS SET REQUESTED_DATE = CURRENT DATE + 7 DAYS",
     Refused(UnsupportedSql, "a labeled duration (DAYS) is not supported by the simulated Db2")),
    ("an OLAP specification",
     "SELECT ROW_NUMBER() OVER (ORDER BY ORDER_ID) FROM SHIPPING.ORDERS",
     Refused(UnsupportedSql,
             "an OLAP specification (OVER) is not supported by the simulated Db2")),
    ("an unknown function",
     "SELECT DAYNAME(REQUESTED_DATE) FROM SHIPPING.ORDERS",
     Refused(UnsupportedSql, "function DAYNAME is not supported by the simulated Db2")),
    ("date arithmetic",
     "SELECT REQUESTED_DATE - CURRENT DATE FROM SHIPPING.ORDERS",
     Refused(UnsupportedSql, "date and time arithmetic is not supported by the simulated Db2")),
    ("a common table expression",
     "WITH T AS (SELECT 1 AS X FROM SYSIBM.SYSDUMMY1) SELECT X FROM T",
     Refused(UnsupportedSql, "WITH is not supported by the simulated Db2")),
    ("a parameter marker",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = ? WHERE ORDER_ID = 1",
     Refused(UnsupportedSql, "a parameter marker is not supported by the simulated Db2")),
    ("ROLLBACK inside the unit of work",
     "ROLLBACK",
     Refused(UnsupportedSql, "ROLLBACK is not supported by the simulated Db2")),
    ("COMMIT inside the unit of work",
     "UPDATE SHIPPING.ORDERS SET AMOUNT = 1; COMMIT",
     Refused(UnsupportedSql, "COMMIT is not supported by the simulated Db2")),
    ("CREATE INDEX",
     "CREATE INDEX SHIPPING.X1 ON SHIPPING.ORDERS (AMOUNT)",
     Refused(UnsupportedSql, "CREATE INDEX is not supported by the simulated Db2")),
]  # fmt: skip


@pytest.fixture
def seeded(sor: SystemOfRecord) -> SystemOfRecord:
    """The shipping tables with a few customers and orders, CURRENT TIMESTAMP fixed at NOW."""
    orders = [
        {"ORDER_ID": oid, "CUSTOMER_ID": cid, "PRODUCT_ID": "P001", "QUANTITY": oid,
         "AMOUNT": Decimal(amount), "CURRENCY": "USD", "ORIGIN_PORT": "NLRTM",
         "DESTINATION_PORT": "USNYC", "REQUESTED_DATE": date(2024, 3, 1), "STATUS": status,
         "CREATED_AT": T0, "UPDATED_AT": T0}
        for oid, cid, amount, status in ORDERS
    ]  # fmt: skip
    with sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), CUSTOMERS)
        unit.insert(sor.table("ORDERS"), orders)
    sor.db2.clock = lambda: NOW
    return sor


def _everything(sor: SystemOfRecord) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the file (data, CD tables, IBMSNAP_UOW, catalog), sorted rows."""
    names = [r[0] for r in sor.conn.execute(
        "SELECT name FROM SHIPPING.sqlite_master WHERE type = 'table'")]  # fmt: skip
    return {
        name: sorted(sor.conn.execute(f'SELECT * FROM SHIPPING."{name}"').fetchall(), key=repr)
        for name in names
    }


def _run(sor: SystemOfRecord, sql: str) -> list[Any]:
    with sor.unit_of_work() as unit:
        return sor.run_script(unit, sql)


@pytest.mark.parametrize(("sql", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_statement_behaves_as_db2(
    seeded: SystemOfRecord, sql: str, expected: Answer | Stored | Refused
) -> None:
    if isinstance(expected, Refused):
        before = _everything(seeded)
        with pytest.raises(expected.error) as info:
            _run(seeded, sql)
        assert str(info.value) == expected.message
        assert _everything(seeded) == before
        return
    results = _run(seeded, sql)
    if isinstance(expected, Answer):
        assert (results[-1].columns, results[-1].rows) == (expected.columns, expected.rows)
    else:
        assert seeded.conn.execute(expected.query).fetchall() == expected.rows


def test_an_exact_result_reaches_the_capture_table_as_the_capture_reads_it(
    seeded: SystemOfRecord,
) -> None:
    _run(seeded, "UPDATE SHIPPING.ORDERS SET AMOUNT = 10.5 WHERE ORDER_ID = 2; "
                 "UPDATE SHIPPING.ORDERS SET AMOUNT = AMOUNT * 2 WHERE ORDER_ID = 4")  # fmt: skip
    rows = seeded.conn.execute(
        "SELECT ORDER_ID, AMOUNT, XAMOUNT FROM SHIPPING.CD_ORDERS "
        "WHERE IBMSNAP_OPERATION = 'U' ORDER BY IBMSNAP_INTENTSEQ"
    ).fetchall()
    assert rows == [(2, "10.50", "0.20"), (4, "199.00", "99.50")]
    amount = seeded.table("ORDERS").column("AMOUNT")
    read = [SQLITE.value_from_db(amount, raw) for _, raw, _ in rows]
    assert [str(v) for v in read] == ["10.50", "199.00"]


def test_every_statement_is_checked_before_the_first_runs(seeded: SystemOfRecord) -> None:
    newest = seeded.newest_lsn()
    with pytest.raises(UnsupportedSql) as info:
        _run(
            seeded,
            "INSERT INTO SHIPPING.ORDERS SELECT * FROM SHIPPING.ORDERS; "
            "SELECT 1 FROM SYSIBM.SYSDUMMY1; LOCK TABLE SHIPPING.ORDERS IN SHARE MODE",
        )
    assert info.value.construct == "LOCK"
    assert seeded.newest_lsn() == newest
