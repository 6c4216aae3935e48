"""Exact values, the snapshot rule and schema evolution, checked by the plain reader
(confluent_kafka + fastavro, schemas from `<prefix>._schemas`)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import Settings

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
COLUMNS = [
    ("ID", "INTEGER NOT NULL"),
    ("D0", "DECIMAL(31,0)"),
    ("D31", "DECIMAL(31,31)"),
    ("D2", "DECIMAL(31,2)"),
    ("DT", "DATE"),
    ("TM", "TIME"),
    ("TS", "TIMESTAMP"),
    ("CH", "CHAR(10)"),
    ("VC", "VARCHAR(20)"),
    ("SI", "SMALLINT"),
    ("INT", "INTEGER"),
    ("BI", "BIGINT"),
    ("DB", "DOUBLE"),
]
NINES = "9" * 31
EXTREMES: list[list[Any]] = [
    [
        1, Decimal(NINES), Decimal("0." + NINES), Decimal(NINES[:29] + ".99"), date(9999, 12, 31),
        dtime(23, 59, 59), datetime(9999, 12, 31, 23, 59, 59, 999_999), "ab", "x  y  ",
        32767, 2**31 - 1, 2**63 - 1, 1.7976931348623157e308,
    ],
    [
        2, Decimal("-" + NINES), Decimal("-0." + NINES), Decimal("-" + NINES[:29] + ".99"),
        date(1, 1, 1), dtime(0, 0, 0), datetime(1, 1, 1, 0, 0, 0, 1), "", "",
        -32768, -(2**31), -(2**63), -2.2250738585072014e-308,
    ],
    [3, *[None] * (len(COLUMNS) - 1)],
    [
        4, Decimal(-1), Decimal("0." + "0" * 30 + "1"), Decimal("-0.01"), date(2024, 2, 29),
        dtime(12, 34, 56), datetime(2024, 2, 29, 12, 34, 56, 123_456), "trailing", "ünï ✓",
        0, 0, 0, 0.1,
    ],
]  # fmt: skip
CHAR_AT = [name for name, _ in COLUMNS].index("CH")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return f"'{value:f}'"
    if isinstance(value, datetime):
        return f"'{value.isoformat(' ', 'microseconds')}'"
    if isinstance(value, date | dtime):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _insert(table: str, rows: list[list[Any]]) -> str:
    """INSERTs of the rows, CHAR(10) values stored padded with blanks as Db2 stores them."""
    padded = [
        [v.ljust(10) if i == CHAR_AT and v is not None else v for i, v in enumerate(row)]
        for row in rows
    ]
    return ";\n".join(
        f"INSERT INTO SHIPPING.{table} VALUES ({', '.join(map(_literal, row))})" for row in padded
    )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def _messages(plain: Any, settings: Settings, table: str) -> list[Any]:
    events, _ = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, [table]
    )
    return [m for m in events[table] if m.value is not None]


def test_first_run_after_simulate_publishes_the_history_and_no_snapshot(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "80", "--seed", "5"))
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    tables = [t for t in plain.capture_rows(settings.sor_path)]
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, tables
    )
    report = plain.compare(events, markers, plain.capture_rows(settings.sor_path))
    assert not report["missing"] and not report["extra"], report
    assert report["events"] > 500
    assert not [m for ms in events.values() for m in ms if m.value and m.value["op"] == "r"]


def test_values_are_exact_and_a_table_registered_with_rows_is_snapshotted(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    ddl = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    _ok(run_offload(settings, "sor", "init"))
    create = f"CREATE TABLE SHIPPING.T_EXACT ({ddl}, PRIMARY KEY (ID))"
    _ok(run_offload(settings, "sor", "exec", f"{create};\n{_insert('T_EXACT', EXTREMES[:2])}"))
    _ok(run_offload(settings, "sor", "register", "T_EXACT"))
    _ok(run_offload(settings, "sor", "exec", _insert("T_EXACT", EXTREMES[2:])))
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))

    expected = {row[0]: dict(zip([c for c, _ in COLUMNS], row, strict=True)) for row in EXTREMES}
    messages = _messages(plain, settings, "SHIPPING.T_EXACT")
    snapshot = {m.value["after"]["ID"]: m.value["after"] for m in messages if m.value["op"] == "r"}
    created = {m.value["after"]["ID"]: m.value["after"] for m in messages if m.value["op"] == "c"}
    # Rows 1 and 2 were there before registration: only the snapshot carries them; the
    # snapshot, read after rows 3 and 4 were committed, holds those too.
    assert snapshot == expected
    assert created == {3: expected[3], 4: expected[4]}
    for m in messages:
        assert m.key == {"ID": m.value["after"]["ID"]}
    # The shipping tables, empty when registered, got no snapshot.
    orders = _messages(plain, settings, "SHIPPING.ORDERS")
    assert orders == []


def test_add_column_while_running_gives_a_new_backward_compatible_version(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    _ok(run_offload(settings, "sor", "init"))
    _ok(
        run_offload(
            settings,
            "sor",
            "exec",
            "CREATE TABLE SHIPPING.T_GROW "
            "(ID INTEGER NOT NULL, NAME VARCHAR(10), PRIMARY KEY (ID))",
        )
    )
    _ok(run_offload(settings, "sor", "register", "T_GROW"))
    proc = _spawn(settings, "cdc", "run")
    try:
        for i in range(1, 6):
            _ok(
                run_offload(
                    settings, "sor", "exec", f"INSERT INTO SHIPPING.T_GROW VALUES ({i}, 'n{i}')"
                )
            )
        _wait_idle(run_offload, settings)
        _ok(
            run_offload(
                settings, "sor", "exec", "ALTER TABLE SHIPPING.T_GROW ADD COLUMN X VARCHAR(10)"
            )
        )
        for i in range(6, 11):
            sql = f"INSERT INTO SHIPPING.T_GROW (ID, NAME, X) VALUES ({i}, 'n{i}', 'x{i}')"
            _ok(run_offload(settings, "sor", "exec", sql))
        _ok(
            run_offload(
                settings, "sor", "exec", "UPDATE SHIPPING.T_GROW SET X = 'late' WHERE ID = 1"
            )
        )
        _wait_idle(run_offload, settings)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    table = "SHIPPING.T_GROW"
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, [table]
    )
    rows = {table: plain.capture_rows(settings.sor_path)[table]}
    report = plain.compare(events, markers, rows)
    assert not report["missing"] and not report["extra"] and report["events"] == 11
    schemas = plain.Schemas(settings.kafka.bootstrap_servers, settings.kafka.topic_prefix)
    subject = f"{settings.kafka.topic_prefix}.shipping.t_grow-value"
    assert schemas.versions[subject] == [1, 2]
    topic = subject.removesuffix("-value")
    by_change = {}
    for _, _, _, value in plain.read_topic(settings.kafka.bootstrap_servers, topic):
        record = schemas.decode(value)
        schema_id = struct.unpack(">bI", value[:5])[1]
        by_change[(record["after"]["ID"], record["op"])] = (schema_id, record["after"])
    first = {by_change[(i, "c")][0] for i in range(1, 6)}
    second = {by_change[(i, "c")][0] for i in range(6, 11)} | {by_change[(1, "u")][0]}
    assert len(first) == 1 and len(second) == 1 and first != second
    assert "X" not in by_change[(2, "c")][1]
    assert by_change[(6, "c")][1]["X"] == "x6" and by_change[(1, "u")][1]["X"] == "late"


def _spawn(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = sys.modules[_conftest_name()].settings_env(settings)
    full = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    full |= {"OFFLOAD_CONFIG": str(REPO / "config" / "offload.toml"), **env}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / "cdc.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "offload", *args], cwd=REPO, env=full, stdout=log, stderr=log
        )


def _conftest_name() -> str:
    here = str(Path(__file__).with_name("conftest.py"))
    return next(n for n, m in sys.modules.items() if getattr(m, "__file__", None) == here)


def _wait_idle(run_offload: Callable[..., Any], settings: Settings, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
        if status["lag_lsn"] == 0 and status["last_published_lsn"] > 0:
            return
        time.sleep(0.5)
    raise AssertionError("capture did not catch up")


def test_an_incompatible_change_holds_its_table_until_accepted_and_loses_nothing(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    prefix = settings.kafka.topic_prefix
    _ok(run_offload(settings, "sor", "init"))
    table_sql = "CREATE TABLE SHIPPING.T_PRICE (ID INTEGER NOT NULL, AMOUNT {}, PRIMARY KEY (ID))"
    _ok(run_offload(settings, "sor", "exec", table_sql.format("DECIMAL(9,2)")))
    _ok(run_offload(settings, "sor", "register", "T_PRICE"))
    proc = _spawn(settings, "cdc", "run")
    try:
        _ok(run_offload(settings, "sor", "exec", _prices(1, 4)))
        _wait_idle(run_offload, settings)
        # The simulated Db2 has no ALTER COLUMN: the type changes by drop and re-create.
        recreate = f"DROP TABLE SHIPPING.T_PRICE; {table_sql.format('DECIMAL(11,2)')}"
        recreated = _ok(run_offload(settings, "sor", "exec", recreate)).stdout
        recreated_lsn = int(recreated.rsplit("LSN", 1)[1])
        _ok(run_offload(settings, "sor", "register", "T_PRICE"))
        _ok(run_offload(settings, "sor", "exec", _prices(4, 7)))
        _ok(run_offload(settings, "simulate", "--transactions", "30", "--seed", "8"))
        _wait_idle(run_offload, settings)
        status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
        waiting = {t["table"]: t for t in status["tables"]}["SHIPPING.T_PRICE"]
        assert waiting["state"] == "waiting on incompatible change"
        assert waiting["reason"] == (
            "capture of table SHIPPING.T_PRICE stopped: column AMOUNT changed from "
            "DECIMAL(9,2) to DECIMAL(11,2), which is not BACKWARD compatible with version 1 "
            f"of subject {prefix}.shipping.t_price-value; revert the change or run "
            "`offload cdc resume SHIPPING.T_PRICE --accept-incompatible`"
        )
        # Meanwhile every other table went on.
        rows = plain.capture_rows(settings.sor_path)
        others = [t for t in rows if t != "SHIPPING.T_PRICE"]
        events, markers = plain.read_events(settings.kafka.bootstrap_servers, prefix, others)
        report = plain.compare(events, markers, {t: rows[t] for t in others})
        assert not report["missing"] and not report["extra"] and report["events"] > 100
        assert _messages(plain, settings, "SHIPPING.T_PRICE") != []
        _ok(run_offload(settings, "cdc", "resume", "T_PRICE", "--accept-incompatible"))
        _wait_state(run_offload, settings, "SHIPPING.T_PRICE", "running")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    messages = _messages(plain, settings, "SHIPPING.T_PRICE")
    amounts = {m.value["after"]["ID"]: m.value["after"]["AMOUNT"] for m in messages}
    assert amounts == {i: Decimal(f"{i}000000.{i}5") for i in range(1, 7)}
    later = [m for m in messages if m.value["source"]["commit_lsn"] > recreated_lsn]
    rows = plain.capture_rows(settings.sor_path)["SHIPPING.T_PRICE"]
    published = sorted(
        (m.value["source"]["commit_lsn"], m.value["source"]["change_lsn"]) for m in later
    )
    assert published == sorted((lsn, seq) for lsn, seq, _ in rows)


def _prices(first: int, end: int) -> str:
    return ";".join(
        f"INSERT INTO SHIPPING.T_PRICE VALUES ({i}, '{i}000000.{i}5')" for i in range(first, end)
    )


def _wait_state(
    run_offload: Callable[..., Any], settings: Settings, table: str, state: str
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
        if {t["table"]: t["state"] for t in status["tables"]}.get(table) == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"table {table} did not reach state {state}")
