"""Through the real pipeline: sor init, simulate, cdc run, reference loads, project run.

Every mirror must equal its source table exactly, and the views must equal reference queries
written here against the SQLite system of record, independently of the view code.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from types import SimpleNamespace
from typing import Any

import pytest

from event_contract.catalog import Db2Type
from simulators.reference_data import PORTS, PRODUCTS, VESSELS
from simulators.sor import SystemOfRecord

# The average is computed here from the exact sum in hundredths (a DECIMAL(5,2) reading is
# exact as a REAL times 100, rounded) and the count: see `_exact_averages`.
COLD_CHAIN = """
SELECT a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID, o.PRODUCT_ID, p.temp_min, p.temp_max,
       a.LOADED_AT, a.DISCHARGED_AT,
       count(t.TEMPERATURE),
       min(CAST(t.TEMPERATURE AS REAL)), max(CAST(t.TEMPERATURE AS REAL)),
       sum(CAST(round(CAST(t.TEMPERATURE AS REAL) * 100) AS INTEGER)),
       sum(CASE WHEN CAST(t.TEMPERATURE AS REAL) < p.temp_min
                  OR CAST(t.TEMPERATURE AS REAL) > p.temp_max THEN 1 ELSE 0 END),
       min(CASE WHEN CAST(t.TEMPERATURE AS REAL) < p.temp_min
                  OR CAST(t.TEMPERATURE AS REAL) > p.temp_max THEN t.READING_TS END),
       max(t.READING_TS)
FROM SHIPPING.ORDER_ASSIGNMENTS AS a
JOIN SHIPPING.ORDERS AS o ON o.ORDER_ID = a.ORDER_ID
LEFT JOIN products AS p ON p.product_id = o.PRODUCT_ID
LEFT JOIN SHIPPING.REEFER_TELEMETRY AS t
    ON t.CONTAINER_ID = a.CONTAINER_ID AND t.READING_TS >= a.LOADED_AT
    AND (a.DISCHARGED_AT IS NULL OR t.READING_TS <= a.DISCHARGED_AT)
WHERE a.LOADED_AT IS NOT NULL
GROUP BY a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID
"""
ORDER_TRACKING = """
SELECT o.ORDER_ID, o.CUSTOMER_ID, c.NAME, o.PRODUCT_ID, p.product_name, p.temp_min, p.temp_max,
       o.QUANTITY, CAST(o.AMOUNT AS REAL), o.CURRENCY, o.STATUS, a.CONTAINER_ID, a.VOYAGE_ID,
       v.VESSEL_ID,
       ve.name, o.ORIGIN_PORT, op.name, o.DESTINATION_PORT, dp.name,
       v.PLANNED_DEPARTURE, v.PLANNED_ARRIVAL, v.DEPARTED_AT, v.ARRIVED_AT,
       a.ASSIGNED_AT, a.LOADED_AT, a.DISCHARGED_AT
FROM SHIPPING.ORDERS AS o
LEFT JOIN SHIPPING.CUSTOMERS AS c ON c.CUSTOMER_ID = o.CUSTOMER_ID
LEFT JOIN products AS p ON p.product_id = o.PRODUCT_ID
LEFT JOIN SHIPPING.ORDER_ASSIGNMENTS AS a ON a.ORDER_ID = o.ORDER_ID
LEFT JOIN SHIPPING.VOYAGES AS v ON v.VOYAGE_ID = a.VOYAGE_ID
LEFT JOIN vessels AS ve ON ve.vessel_id = v.VESSEL_ID
LEFT JOIN ports AS op ON op.unlocode = o.ORIGIN_PORT
LEFT JOIN ports AS dp ON dp.unlocode = o.DESTINATION_PORT
"""


def _typed(value: Any, column: Any) -> Any:
    """A SQLite value as the Python value of its Db2 type (DECIMAL at its declared scale)."""
    kind = column.type
    if value is None:
        return None
    if kind is Db2Type.DECIMAL:
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-column.scale))
    if kind is Db2Type.TIMESTAMP:
        return datetime.fromisoformat(str(value))
    if kind is Db2Type.DATE:
        return date.fromisoformat(str(value))
    if kind is Db2Type.TIME:
        return time.fromisoformat(str(value))
    if kind is Db2Type.CHAR:
        return str(value).rstrip(" ")
    if kind is Db2Type.DOUBLE:
        return float(value)
    return value


def _exact_averages(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """COLD_CHAIN's rows with column 11 (the sum in hundredths) made the exact average: the
    quotient by the count (column 8) rounded half to even at scale 4, as DECIMAL(7,4)."""
    out = []
    for row in rows:
        count, hundredths = row[8], row[11]
        average = None
        if count:
            with localcontext() as context:
                context.prec = 50
                exact = Decimal(hundredths).scaleb(-2) / count
                average = exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
        out.append((*row[:11], average, *row[12:]))
    return out


def _checksum(rows: list[tuple[Any, ...]]) -> int:
    """Order-independent: the sum of each row's SHA-256 (as an integer), mod 2**128."""
    return sum(int.from_bytes(hashlib.sha256(repr(r).encode()).digest()[:16]) for r in rows) % (
        2**128
    )


def _reference_db(settings: Any) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute("ATTACH DATABASE ? AS SHIPPING", (str(settings.sor_path),))
    con.execute("CREATE TABLE products (product_id, product_name, temp_min REAL, temp_max REAL)")
    con.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?)",
        [(p.product_id, p.name, float(p.temp_min), float(p.temp_max)) for p in PRODUCTS],
    )
    con.execute("CREATE TABLE ports (unlocode, name)")
    con.executemany("INSERT INTO ports VALUES (?, ?)", [(p.locode, p.name) for p in PORTS])
    con.execute("CREATE TABLE vessels (vessel_id, name)")
    con.executemany("INSERT INTO vessels VALUES (?, ?)", [(v.vessel_id, v.name) for v in VESSELS])
    return con


def _load_reference(settings: Any) -> None:
    from reference_loader.jobs import select_jobs
    from reference_loader.load import run_job

    for job in select_jobs(settings, []):
        run_job(settings, job)


def _norm(value: Any) -> Any:
    """Views compared as values: timestamps, text, numbers (floats to 9 decimals)."""
    if isinstance(value, Decimal | float):
        return round(float(value), 9)
    if isinstance(value, str):
        try:
            return (
                datetime.fromisoformat(value) if value[:4].isdigit() and "-" in value[:5] else value
            )
        except ValueError:
            return value
    return value


@pytest.mark.kafka
@pytest.mark.parametrize(
    "split",
    [{}, {"telemetry": ["SHIPPING.REEFER_TELEMETRY"], "orders": ["SHIPPING.ORDERS"]}],
    ids=["one-capture", "capture-split-by-table-group"],
)
def test_every_mirror_and_view_equals_the_source(
    kafka_broker: Any,
    settings_factory: Any,
    run_offload: Any,
    kit: SimpleNamespace,
    split: dict[str, list[str]],
) -> None:
    s = settings_factory({"capture.split": split})
    kit.ok(run_offload(s, "sor", "init"))
    kit.ok(run_offload(s, "simulate", "--transactions", "300", "--seed", "5"))
    kit.ok(run_offload(s, "cdc", "run", "--until-idle"))
    _load_reference(s)
    kit.ok(run_offload(s, "project", "run", "--until-idle"))
    # more work after the first apply: live units of work on top of the snapshot
    kit.ok(run_offload(s, "simulate", "--transactions", "300", "--seed", "6"))
    kit.ok(run_offload(s, "cdc", "run", "--until-idle"))
    kit.ok(run_offload(s, "project", "run", "--until-idle"))

    db = s.projections_path
    with SystemOfRecord.open(s.sor_path, s.source.schema_name) as sor:
        tables = {name: sor.table(name) for name in sor.table_names()}
        newest = sor.newest_lsn()
    assert kit.duck(db, "SELECT lsn FROM _offload.watermark") == [(newest,)]
    ref = _reference_db(s)
    for name, table in tables.items():
        cols = ", ".join(c.name for c in table.columns)
        source = [
            tuple(_typed(v, c) for v, c in zip(row, table.columns, strict=True))
            for row in ref.execute(f"SELECT {cols} FROM SHIPPING.{name}")
        ]
        mirror = kit.duck(db, f"SELECT {cols.lower()} FROM shipping.{name.lower()}")
        assert len(mirror) == len(source), name
        assert _checksum(mirror) == _checksum(source), name
        assert sorted(mirror, key=repr) == sorted(source, key=repr), name

    cold = kit.duck(db, "SELECT * EXCLUDE (compliant, sum_temperature) FROM views.cold_chain")
    expected = _exact_averages(ref.execute(COLD_CHAIN).fetchall())
    assert len(cold) == len(expected) > 0
    norm = lambda rows: sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)  # noqa: E731
    assert norm(cold) == norm(expected)
    averages = lambda rows: sorted(((*r[:3], r[11]) for r in rows), key=repr)  # noqa: E731
    assert averages(cold) == averages(expected)  # exactly: Decimal against Decimal
    assert any(r[11] is not None for r in cold)
    compliant = kit.duck(db, "SELECT count(*) FILTER (WHERE NOT compliant) FROM views.cold_chain")
    assert compliant[0][0] == sum(1 for r in expected if r[12])

    tracking = kit.duck(
        db, "SELECT * EXCLUDE (last_lsn, last_commit_time) FROM views.order_tracking"
    )
    expected = ref.execute(ORDER_TRACKING).fetchall()
    assert len(tracking) == len(expected) > 0
    assert norm(tracking) == norm(expected)
    lsns = kit.duck(db, "SELECT min(last_lsn), max(last_lsn) FROM views.order_tracking")
    assert 0 < lsns[0][0] <= lsns[0][1] <= newest
