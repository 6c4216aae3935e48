"""Data of the query API benchmark: one data set, written twice, streamed in chunks.

- The projection (DuckDB): mirrors of simulators/sql/shipping.sql plus the reference mirrors,
  the real views, filled by the real `BatchApplier` (as the Kafka loop would), then closed.
- The system of record (SQLite): the same rows in tables created by the simulator's own DDL
  (`simulators.storage`: DECIMAL kept as exact text, CHAR compared with RTRIM, the same
  primary keys), without capture triggers since nothing is captured here.

The shape (ids, counts, rows) is `query_api_shape`'s; the readings are written time-major
(every container's reading at t, then t + 15 min) as a fleet reports them, so the telemetry is
not sorted by container.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

import duckdb
from query_api_shape import (
    CUSTOMERS,
    PRODUCTS,
    T0,
    Row,
    container_id,
    containers_of,
    order_row,
    reading_row,
    voyage_id,
    voyages_of,
)
from shipping_mirrors import mirror_specs, shipping_tables

from config.sections import ProjectionSettings
from projections.applier import BatchApplier
from projections.assembler import AssembledUnit, MemoryStage
from projections.changelog import ChangeLog
from projections.events import DecodedChange
from projections.store import open_database
from projections.views import ViewSet, load_views
from simulators import storage

CHUNK = 200_000


def master_rows(orders: int) -> list[Row]:
    """Customers, voyages, containers and the products' ranges (no orders yet)."""
    rows: list[Row] = [("REFERENCE.PRODUCTS", {"product_id": p, "product_name": n,
                        "temp_min": Decimal(lo), "temp_max": Decimal(hi)})
                       for p, n, lo, hi in PRODUCTS]  # fmt: skip
    for c in range(1, CUSTOMERS + 1):
        rows.append(("SHIPPING.CUSTOMERS", {"CUSTOMER_ID": c, "NAME": f"Customer {c}",
            "COUNTRY": "NL", "SEGMENT": "STANDARD", "CREDIT_LIMIT": Decimal("1000.00"),
            "ORDER_CUTOFF": None, "CREATED_AT": T0}))  # fmt: skip
    for v in range(voyages_of(orders)):
        rows.append(("SHIPPING.VOYAGES", {"VOYAGE_ID": voyage_id(v), "VESSEL_ID": "IMO9000001",
            "ORIGIN_PORT": "NLRTM", "DESTINATION_PORT": "USNYC", "PLANNED_DEPARTURE": T0,
            "PLANNED_ARRIVAL": T0 + timedelta(days=9), "DEPARTED_AT": T0, "ARRIVED_AT": None,
            "STATUS": "AT_SEA"}))  # fmt: skip
    for c in range(containers_of(orders)):
        rows.append(("SHIPPING.CONTAINERS", {"CONTAINER_ID": container_id(c), "ISO_TYPE": "45R1",
            "MAX_PAYLOAD_KG": 29000, "STATUS": "LOADED", "LAST_PORT": None}))  # fmt: skip
    return rows


def order_rows(orders: int) -> list[Row]:
    """Every order and its assignment (loaded at T0, still at sea)."""
    containers = containers_of(orders)
    rows: list[Row] = []
    for o in range(1, orders + 1):
        rows.append(("SHIPPING.ORDERS", order_row(o, "LOADED", T0)))
        container = ((o - 1) // 10 * 2 + o % 2) % containers
        rows.append(("SHIPPING.ORDER_ASSIGNMENTS", {"ORDER_ID": o,
            "CONTAINER_ID": container_id(container), "VOYAGE_ID": voyage_id((o - 1) // 500),
            "ASSIGNED_AT": T0, "LOADED_AT": T0, "DISCHARGED_AT": None}))  # fmt: skip
    return rows


def telemetry_chunks(orders: int, readings: int, seed: int) -> Iterator[list[Row]]:
    """The readings, time-major, in chunks of about CHUNK rows; 0.2 % are excursions."""
    rnd = random.Random(seed)
    containers = containers_of(orders)
    chunk: list[Row] = []
    for step in range(max(readings // containers, 1)):
        for c in range(containers):
            base = 13.5 if c % 2 else -0.5
            temp = base + (3.0 if rnd.random() < 0.002 else rnd.uniform(-0.4, 0.4))
            chunk.append(("SHIPPING.REEFER_TELEMETRY", reading_row(c, step, temp)))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Projector:
    """Applies units of work to a projection database with the real applier."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lsn: int = 0) -> None:
        self.con = con
        self.specs = mirror_specs()
        views = ViewSet(load_views(["order_tracking", "cold_chain"]))
        # the view change log, as the projection writer keeps it by default
        views.changes = ChangeLog(con, views=ProjectionSettings().logged_views())
        self.applier = BatchApplier(con, MemoryStage(), views)
        for spec in self.specs.values():
            self.applier.ensure_mirror(spec)
        views.ensure(con, {s.source_name.lower() for s in self.specs.values()})
        self.lsn = lsn
        self.offset = 0

    def apply(self, units: list[list[Row]], op: str = "c") -> None:
        """One DuckDB transaction holding one unit of work per inner list."""
        assembled = []
        for rows in units:
            self.lsn += 1
            ms = int((T0 + timedelta(seconds=self.lsn)).replace(tzinfo=UTC).timestamp() * 1000)
            events = []
            for seq, (table, row) in enumerate(rows, start=1):
                self.offset += 1
                key = tuple(row[k] for k in self.specs[table].primary_key)
                events.append(DecodedChange("t", 0, self.offset, table, op, key, row, self.lsn,
                                          seq, f"U{self.lsn}", ms))  # fmt: skip
            assembled.append(AssembledUnit(f"U{self.lsn}", self.lsn, ms, tuple(events), False,
                                           len(events)))  # fmt: skip
        self.applier.apply(assembled, {})


def build(directory: Path, orders: int, readings: int, seed: int = 7) -> tuple[Path, Path, int]:
    """Write the projection and the system of record; returns their paths and the last LSN.

    Telemetry goes in before the orders, so the cold-chain view is computed once, when the
    assignments arrive, rather than once per telemetry chunk.
    """
    projection_path, sor_path = directory / "projection.duckdb", directory / "sor.sqlite"
    projector = Projector(open_database(projection_path))
    sor = _create_sor(sor_path)
    chunks = telemetry_chunks(orders, readings, seed)
    for rows in chain([master_rows(orders)], chunks, [order_rows(orders)]):
        projector.apply([rows])
        _insert_sor(sor, rows)
    sor.commit()
    sor.close()
    projector.con.close()
    return projection_path, sor_path, projector.lsn


def open_sor(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """The SQLite file ATTACHed as SHIPPING to an in-memory database, as the simulator does."""
    con = sqlite3.connect(":memory:", uri=True)
    con.execute("ATTACH ? AS SHIPPING", (f"file:{path}" + ("?mode=ro" if read_only else ""),))
    return con


def _create_sor(path: Path) -> sqlite3.Connection:
    con = open_sor(path)
    con.execute("PRAGMA SHIPPING.journal_mode = WAL")
    for table in shipping_tables():
        con.execute(storage.create_table_sql(table))
    # The reference data (products and their ranges) lives beside the tables it qualifies.
    con.execute("CREATE TABLE SHIPPING.PRODUCTS (PRODUCT_ID TEXT PRIMARY KEY, TEMP_MIN, TEMP_MAX)")
    con.executemany("INSERT INTO SHIPPING.PRODUCTS VALUES (?, ?, ?)",
                    [(p, lo, hi) for p, _, lo, hi in PRODUCTS])  # fmt: skip
    return con


def _insert_sor(con: sqlite3.Connection, rows: list[Row]) -> None:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for table, row in rows:
        if table.startswith("SHIPPING."):
            grouped.setdefault(table.split(".")[1], []).append(row)
    for name, items in grouped.items():
        columns = list(items[0])
        marks = ", ".join("?" * len(columns))
        sql = f'INSERT INTO SHIPPING."{name}" ({", ".join(columns)}) VALUES ({marks})'  # noqa: S608 - catalog names
        con.executemany(sql, ([_stored(r[c]) for c in columns] for r in items))


def _stored(value: Any) -> Any:
    """A value as the simulated Db2 stores it (see db2.dialect)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# The cold-chain legs of one voyage, computed from scratch on the system of record: the
# assignments of the voyage, their orders, the product's range, and the container's readings
# inside the loaded window; the same columns and rules as projections/views/cold_chain.sql.
SOR_COLD_CHAIN = """
SELECT a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID, o.PRODUCT_ID,
       count(t.TEMPERATURE) AS readings,
       min(CAST(t.TEMPERATURE AS REAL)) AS min_temperature,
       max(CAST(t.TEMPERATURE AS REAL)) AS max_temperature,
       avg(CAST(t.TEMPERATURE AS REAL)) AS avg_temperature,
       sum(CAST(t.TEMPERATURE AS REAL) < CAST(p.TEMP_MIN AS REAL)
           OR CAST(t.TEMPERATURE AS REAL) > CAST(p.TEMP_MAX AS REAL)) AS excursions,
       min(CASE WHEN CAST(t.TEMPERATURE AS REAL) < CAST(p.TEMP_MIN AS REAL)
                  OR CAST(t.TEMPERATURE AS REAL) > CAST(p.TEMP_MAX AS REAL)
                THEN t.READING_TS END) AS first_excursion_at,
       max(t.READING_TS) AS last_reading_at
FROM SHIPPING.ORDER_ASSIGNMENTS AS a
JOIN SHIPPING.ORDERS AS o ON o.ORDER_ID = a.ORDER_ID
LEFT JOIN SHIPPING.PRODUCTS AS p ON p.PRODUCT_ID = o.PRODUCT_ID
LEFT JOIN SHIPPING.REEFER_TELEMETRY AS t
    ON t.CONTAINER_ID = a.CONTAINER_ID AND t.READING_TS >= a.LOADED_AT
    AND (a.DISCHARGED_AT IS NULL OR t.READING_TS <= a.DISCHARGED_AT)
WHERE a.VOYAGE_ID = ? AND a.LOADED_AT IS NOT NULL
GROUP BY a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID, o.PRODUCT_ID
ORDER BY a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID
"""
