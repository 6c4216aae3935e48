"""An empty simulated Db2 with a user's own tables in two schemas, through the real pipeline:
`sor init --empty`, `sor exec` DDL and DML, `sor register`, `cdc run --until-idle` (capture
chosen with a `SCHEMA.*` pattern), `project run --until-idle`; every mirror must equal its
source table exactly, in a DuckDB schema named after the Db2 schema.
"""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from confluent_kafka.admin import AdminClient

from config import Settings

pytestmark = pytest.mark.kafka

DDL = """
CREATE SCHEMA ACCT;
CREATE TABLE ACCT.LEDGER (
    ENTRY_ID   INTEGER       NOT NULL,
    ACCOUNT    CHAR(8)       NOT NULL,
    AMOUNT     DECIMAL(11,2) NOT NULL,
    BOOKED_ON  DATE          NOT NULL,
    NOTE       VARCHAR(40),
    PRIMARY KEY (ENTRY_ID)
);
CREATE TABLE SALES.ITEMS (
    SKU        CHAR(6)       NOT NULL,
    REGION     CHAR(2)       NOT NULL,
    QTY        SMALLINT      NOT NULL WITH DEFAULT 0,
    PRICE      DECIMAL(7,3),
    CHANGED_AT TIMESTAMP     NOT NULL,
    PRIMARY KEY (SKU, REGION)
);
CREATE TABLE OTHER.SKIPPED (ID INTEGER NOT NULL PRIMARY KEY)
"""

UNITS_BEFORE = [
    "INSERT INTO ACCT.LEDGER VALUES (1, 'A-1', 10.5, '2024-03-01', 'opening'), "
    "(2, 'A-2', -3, '2024-03-01', NULL), (3, 'A-1', 0.01, '2024-03-02', 'fee')",
    "INSERT INTO SALES.ITEMS (SKU, REGION, QTY, PRICE, CHANGED_AT) VALUES "
    "('P-100', 'EU', 5, 1.125, '2024-03-01-10.00.00.000001'), "
    "('P-100', 'US', 2, NULL, '2024-03-01-10.00.00.000002'); "
    "INSERT INTO OTHER.SKIPPED VALUES (7)",
    # one unit of work across both schemas
    "UPDATE ACCT.LEDGER SET AMOUNT = AMOUNT * 2, NOTE = 'doubled' WHERE ENTRY_ID = 1; "
    "UPDATE SALES.ITEMS SET QTY = QTY + 1 WHERE SKU = 'P-100' AND REGION = 'EU'; "
    "DELETE FROM ACCT.LEDGER WHERE ENTRY_ID = 3",
]
UNITS_AFTER = [
    "UPDATE ACCT.LEDGER SET ENTRY_ID = 20 WHERE ENTRY_ID = 2",  # a key change
    "INSERT INTO SALES.ITEMS (SKU, REGION, PRICE, CHANGED_AT) "
    "VALUES ('Q-7', 'EU', 99.999, '2024-03-05-08.30.00.000000'); "
    "DELETE FROM SALES.ITEMS WHERE REGION = 'US'; "
    "INSERT INTO ACCT.LEDGER VALUES (4, 'B-9', 1234567.89, '2024-03-05', 'big')",
]

EXPECTED_LEDGER = [
    (1, "A-1", Decimal("21.00"), date(2024, 3, 1), "doubled"),
    (4, "B-9", Decimal("1234567.89"), date(2024, 3, 5), "big"),
    (20, "A-2", Decimal("-3.00"), date(2024, 3, 1), None),
]
EXPECTED_ITEMS = [
    ("P-100", "EU", 6, Decimal("1.125"), datetime(2024, 3, 1, 10, 0, 0, 1)),
    ("Q-7", "EU", 0, Decimal("99.999"), datetime(2024, 3, 5, 8, 30)),
]


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _source_rows(path: Path, stored: str, columns: str) -> list[tuple[Any, ...]]:
    """Rows of a table as the simulated Db2 file stores it, read with plain sqlite3."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(f'SELECT {columns} FROM "{stored}"').fetchall()
    finally:
        con.close()


def _typed_ledger(row: tuple[Any, ...]) -> tuple[Any, ...]:
    entry, account, amount, booked, note = row
    return (
        entry,
        account.rstrip(" "),
        Decimal(str(amount)).quantize(Decimal("0.01")),
        date.fromisoformat(booked),
        note,
    )


def _typed_items(row: tuple[Any, ...]) -> tuple[Any, ...]:
    sku, region, qty, price, changed = row
    exact = None if price is None else Decimal(str(price)).quantize(Decimal("0.001"))
    return (sku.rstrip(" "), region.rstrip(" "), qty, exact, datetime.fromisoformat(changed))


def _mirror(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_an_empty_sor_with_two_schemas_is_captured_and_mirrored_exactly(
    settings_factory: Any, kafka_broker: Settings, run_offload: Any
) -> None:
    s = settings_factory({"capture.tables": ["ACCT.*", "SALES.ITEMS"]})
    out = _ok(run_offload(s, "sor", "init", "--empty")).stdout
    assert "no tables" in out
    _ok(run_offload(s, "sor", "exec", DDL))
    registered = _ok(
        run_offload(s, "sor", "register", "ACCT.LEDGER", "sales.items", "OTHER.SKIPPED")
    )
    assert "ACCT.LEDGER: registered" in registered.stdout
    tables = _ok(run_offload(s, "sor", "tables")).stdout.split("\n")
    listed = sorted(line.split()[0] for line in tables if line.strip())
    assert listed == ["ACCT.LEDGER", "OTHER.SKIPPED", "SALES.ITEMS"]

    for sql in UNITS_BEFORE:
        _ok(run_offload(s, "sor", "exec", sql))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "project", "run", "--until-idle"))
    for sql in UNITS_AFTER:  # live changes on top of what was applied
        _ok(run_offload(s, "sor", "exec", sql))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "project", "run", "--until-idle"))

    # each schema's tables get their topics as the shipping ones do; OTHER is not captured
    topics = set(AdminClient({"bootstrap.servers": s.kafka.bootstrap_servers}).list_topics(
        timeout=10).topics)  # fmt: skip
    prefix = s.kafka.topic_prefix
    assert {f"{prefix}.acct.ledger", f"{prefix}.sales.items"} <= topics
    assert f"{prefix}.other.skipped" not in topics

    ledger_cols = "ENTRY_ID, ACCOUNT, AMOUNT, BOOKED_ON, NOTE"
    items_cols = "SKU, REGION, QTY, PRICE, CHANGED_AT"
    source_ledger = sorted(map(_typed_ledger, _source_rows(s.sor_path, "ACCT.LEDGER", ledger_cols)))
    source_items = sorted(map(_typed_items, _source_rows(s.sor_path, "SALES.ITEMS", items_cols)))
    assert source_ledger == EXPECTED_LEDGER  # the statements did what Db2 does
    assert source_items == EXPECTED_ITEMS

    db = s.projections_path
    mirror_ledger = _mirror(db, f"SELECT {ledger_cols.lower()} FROM acct.ledger ORDER BY 1")
    mirror_items = _mirror(db, f"SELECT {items_cols.lower()} FROM sales.items ORDER BY 1, 2")
    assert mirror_ledger == source_ledger
    assert mirror_items == source_items
    schemas = _mirror(db, "SELECT DISTINCT schema_name FROM duckdb_tables() ORDER BY 1")
    assert ("acct",) in schemas and ("sales",) in schemas and ("other",) not in schemas
    con = sqlite3.connect(f"file:{s.sor_path}?mode=ro", uri=True)
    newest = con.execute('SELECT MAX(IBMSNAP_COMMITSEQ) FROM "IBMSNAP_UOW"').fetchone()[0]
    con.close()
    assert _mirror(db, "SELECT lsn FROM _offload.watermark") == [(newest,)]
